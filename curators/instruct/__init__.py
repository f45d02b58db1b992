"""Instruction (SFT) and preference (DPO) data: Self-Instruct, Evol-Instruct, Magpie and corpus-grounded
instructions; several responses per instruction; an UltraFeedback-style judge; preference pairs confirmed
in both orders."""
