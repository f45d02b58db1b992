"""Errors a user can act on: a message that says what went wrong and a hint that says what to do.

The base error lives here, at the bottom of the layers, so the warehouse and the library (which adds
its own kinds in `curators/errors.py`) raise the same type the CLI prints without a traceback.
"""

from __future__ import annotations


class CurateError(Exception):
    """An error the CLI prints without a traceback (unless --debug)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class WarehouseLocked(CurateError):
    """Another process is writing to the same data root."""


class RowError(CurateError, ValueError):
    """A row does not fit its table's schema (an unknown key, or a missing required one)."""
