"""Configuration of instruction and preference data (section `instruct:` of curate.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from curators.settings import StrictModel

# Self-Instruct's blacklist (Wang et al.: tasks a text-only model cannot do), plus the obvious plurals.
BLACKLIST = [
    "image", "images", "picture", "pictures", "graph", "graphs", "file", "files", "map", "maps", "draw",
    "plot", "plots", "go to", "video", "videos", "audio", "diagram", "photo", "photograph",
]  # fmt: skip

PRINCIPLES = ["helpfulness", "honesty", "truthfulness", "verbalized_calibration"]


class InstructionChecks(StrictModel):
    """Rules every new instruction passes (each failure a status with its reason)."""

    min_words: int = Field(default=4, ge=1, description="Fewer words: dropped (Self-Instruct: <= 3).")
    max_words: int = Field(default=150, ge=1, description="More words: dropped.")
    blacklist: list[str] = Field(default_factory=lambda: list(BLACKLIST), description="Words a text model can't do.")
    rouge_l: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Dropped when ROUGE-L F with an instruction of the pool is above."
    )


class SelfInstructConfig(StrictModel):
    """Self-Instruct: each prompt shows seed tasks and generated ones, and asks for new tasks."""

    seed_tasks: Path | None = Field(
        default=None, description="A JSONL of seed tasks (instruction, kind, subject); default: the packaged 150."
    )
    per_request: int = Field(default=8, ge=1, le=20, description="New tasks asked per prompt.")
    seed_examples: int = Field(default=6, ge=0, description="Seed tasks shown per prompt.")
    generated_examples: int = Field(default=2, ge=0, description="Generated tasks shown per prompt (from round 1).")
    rounds: int = Field(default=2, ge=1, le=9, description="Rounds; later rounds show tasks of the earlier ones.")
    prompt: str = Field(default="self-instruct", description="Prompt task or task@version.")


class EvolConfig(StrictModel):
    """Evol-Instruct: each round rewrites the previous round's instructions, in depth or in breadth."""

    rounds: int = Field(default=2, ge=1, le=9, description="Evolution rounds.")
    breadth_share: float = Field(default=0.2, ge=0.0, le=1.0, description="Share of in-breadth evolutions.")
    from_method: Literal["self-instruct", "magpie", "grounded", "seeds"] = Field(
        default="seeds", description="What round 0 evolves: the seed tasks, or usable instructions of a method."
    )
    no_gain_rouge_l: float = Field(
        default=0.9, ge=0.0, le=1.0, description="No information gain: ROUGE-L F with the parent at or above this."
    )
    prompt_depth: str = Field(default="evol-depth", description="Prompt of in-depth evolution.")
    prompt_breadth: str = Field(default="evol-breadth", description="Prompt of in-breadth evolution.")


class MagpieConfig(StrictModel):
    """Magpie: the model writes the user turn from its chat template's prefix (a raw text completion)."""

    system: str | None = Field(
        default="You are a helpful assistant.", description="System message of the prefix (None: the template's)."
    )
    chat_template: str | None = Field(
        default=None, description="Jinja chat template for a remote endpoint (default: read from the GGUF)."
    )
    bos_token: str = Field(default="", description="With chat_template: the BOS token it uses.")
    eos_token: str = Field(default="", description="With chat_template: the EOS token it uses.")
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=128, ge=8, description="Longest user turn, in tokens.")


class GroundedConfig(StrictModel):
    """Questions a curated document (or a textbook) answers, with the document's id as the seed."""

    source: Literal["curated", "textbooks"] = Field(default="curated", description="Where the passages come from.")
    per_document: int = Field(default=2, ge=1, le=10, description="Questions asked per passage.")
    max_chars: int = Field(default=2500, ge=200, description="Passage sent, cut at a paragraph.")
    min_score: float | None = Field(default=None, description="Curated: only documents scoring at least this.")
    prompt: str = Field(default="grounded", description="Prompt task or task@version.")


class InstructionsConfig(StrictModel):
    """New instructions, from one of four methods (each row records its method)."""

    n: int = Field(default=64, ge=1, description="Instructions asked for (Magpie: user turns; grounded: passages).")
    seed: int = Field(default=0, description="Seed of the examples and operations drawn.")
    max_tokens: int = Field(default=768, ge=16, description="Longest answer of the generating model.")
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    checks: InstructionChecks = Field(default_factory=InstructionChecks)
    self_instruct: SelfInstructConfig = Field(default_factory=SelfInstructConfig)
    evol: EvolConfig = Field(default_factory=EvolConfig)
    magpie: MagpieConfig = Field(default_factory=MagpieConfig)
    grounded: GroundedConfig = Field(default_factory=GroundedConfig)
    batch: int = Field(default=16, ge=1, description="Requests per shard (the unit of resume).")


class ResponseModel(StrictModel):
    """A model that answers, at an endpoint of its own (default: the configured endpoint, or the embedded one)."""

    model: str = Field(description="Model name at the endpoint, or an embedded model (packaged name or .gguf path).")
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL of this model's endpoint (default: the configured one)."
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding this endpoint's key (the key itself never goes in "
        "curate.yaml).",
    )


class ResponsesConfig(StrictModel):
    """Several responses per usable instruction, each with a principle and a temperature (UltraFeedback)."""

    per_instruction: int = Field(default=4, ge=1, le=16, description="Responses per instruction.")
    principles: list[str] = Field(
        default_factory=lambda: list(PRINCIPLES),
        description="System-prompt principles, in turn: helpfulness, honesty, truthfulness, verbalized_calibration.",
    )
    temperatures: list[float] = Field(
        default_factory=lambda: [0.2, 0.7, 1.0, 0.5], min_length=1, description="Temperatures, in turn."
    )
    max_tokens: int = Field(default=512, ge=16, description="Longest response, in tokens.")
    models: list[str | ResponseModel] = Field(
        default_factory=list,
        description="Several models, in turn (response k by model k mod n): names served by the configured endpoint, "
        "embedded models (packaged names or .gguf paths) when none is configured, or {model, base_url, "
        "api_key_env} for a model at an endpoint of its own. Default: the one model.",
    )
    max_instructions: int | None = Field(default=None, ge=1, description="Answer at most this many instructions.")
    prompt: str = Field(default="response", description="Prompt task or task@version.")
    batch: int = Field(default=16, ge=1, description="Instructions per shard (the unit of resume).")

    def answering_models(self) -> list[ResponseModel]:
        """The models of `models`, each as a `ResponseModel` (a bare name: at the configured endpoint)."""
        return [m if isinstance(m, ResponseModel) else ResponseModel(model=m) for m in self.models]


class JudgeConfig(StrictModel):
    """UltraFeedback aspects rated 1-5 with a rationale; overall = their mean (Argilla's fix)."""

    prompt: str = Field(default="judge", description="Prompt task or task@version.")
    max_tokens: int = Field(default=400, ge=32)
    batch: int = Field(default=32, ge=1, description="Responses per shard (the unit of resume).")


class PreferencesConfig(StrictModel):
    """Pairs from the ratings, each confirmed by the judge in both orders."""

    rejected: Literal["lowest", "random"] = Field(
        default="lowest", description="Rejected response: the lowest rated, or a random lower-rated one."
    )
    min_margin: float = Field(default=0.5, ge=0.0, description="Smaller rating margins count as ties (dropped).")
    confirm: bool = Field(default=True, description="Ask the judge A-vs-B and B-vs-A for every pair.")
    require_swap_consistent: bool = Field(
        default=True, description="Leave out of `dpo` a pair whose pairwise verdict flips with the order."
    )
    require_agreement: bool = Field(
        default=True, description="Leave out of `dpo` a pair the pairwise verdict prefers the other way round."
    )
    seed: int = Field(default=0, description="Seed of the random rejected choice.")
    prompt: str = Field(default="pairwise", description="Prompt task or task@version.")
    batch: int = Field(default=32, ge=1, description="Pairs per shard (the unit of resume).")


class InstructConfig(StrictModel):
    """Instruction and preference data for SFT and DPO."""

    instructions: InstructionsConfig = Field(default_factory=InstructionsConfig)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    preferences: PreferencesConfig = Field(default_factory=PreferencesConfig)
