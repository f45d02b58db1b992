"""The library's errors. The base, `CurateError`, lives in `warehouse/errors.py` (the bottom layer)."""

from __future__ import annotations

from warehouse.errors import CurateError, WarehouseLocked

__all__ = ["ConfigError", "CurateError", "NotEnoughLabels", "NothingToDo", "SourceError", "WarehouseLocked"]


class ConfigError(CurateError):
    """The configuration file or an option is invalid."""


class SourceError(CurateError):
    """An input cannot be planned at all (missing path, unknown format)."""


class NotEnoughLabels(CurateError):
    """The labels cannot train or evaluate a filter yet (too few, or all on one side)."""


class NothingToDo(CurateError):
    """A step has no input yet (no textbook to write exercises from, no instruction to answer...): the step
    before it has not run. A scheduled job reports it and goes on; a command says what to run first."""
