"""One rule's verdict on one document: the measured value, whether it passes, and why not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str  # snake_case, a column of the `quality` table
    value: float  # what the rule measured (a share, a count, a length; 1.0/0.0 for a yes/no marker)
    passed: bool
    reason: str | None  # None when passed; else a short sentence naming the value and the bound it broke


def show(x: float) -> str:
    """A value as a reason shows it: an integer as such, else 2 decimals (3 below 1)."""
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def bounded(rule: str, what: str, value: float, low: float | None = None, high: float | None = None) -> Verdict:
    """Passed unless value < low or value > high (datatrove's comparisons); None: no bound. `what` names the
    measured thing in the reason ("mean word length 2.10 < 3")."""
    value = float(value)
    if low is not None and value < low:
        return Verdict(rule, value, False, f"{what} {show(value)} < {show(low)}")
    if high is not None and value > high:
        return Verdict(rule, value, False, f"{what} {show(value)} > {show(high)}")
    return Verdict(rule, value, True, None)
