"""One rule's verdict on one document: the measured value, whether it passes, and why not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str  # snake_case, a column of the `quality` table
    value: float  # what the rule measured (a share, a count, a length; 1.0/0.0 for a yes/no marker)
    passed: bool
    reason: str | None  # None when passed; else a short sentence naming the value and the bound it broke
