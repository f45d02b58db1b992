"""Errors a user can act on: a message that says what went wrong and a hint that says what to do."""

from __future__ import annotations


class CurateError(Exception):
    """An error the CLI prints without a traceback (unless --debug)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(CurateError):
    """The configuration file or an option is invalid."""


class SourceError(CurateError):
    """An input cannot be planned at all (missing path, unknown format)."""


class WarehouseLocked(CurateError):
    """Another process is writing to the same data root."""


class NotEnoughLabels(CurateError):
    """The labels cannot train or evaluate a filter yet (too few, or all on one side)."""
