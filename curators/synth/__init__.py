"""Synthetic data: diversity seeds, textbooks and exercises, decontamination, diversity metrics."""
