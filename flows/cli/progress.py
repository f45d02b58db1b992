"""Progress bars on stderr, fed by the flows' tasks through `flows.progress` (see there for the kinds).

One rich `Progress` display per command (rich shows one live display at a time): `StageBars` adds a row
for each kind of progress the command's flow reports and registers the callbacks for its data root.
Rows stay hidden until their stage starts. On a non-terminal stderr nothing is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from flows.cli.console import err


class _Amount(ProgressColumn):
    """Bytes for the ingest row, n/m for the others."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._count = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        return (self._bytes if task.fields.get("unit") == "bytes" else self._count).render(task)


class _Speed(ProgressColumn):
    def __init__(self) -> None:
        super().__init__()
        self._bytes = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        return self._bytes.render(task) if task.fields.get("unit") == "bytes" else Text("")


class StageBars:
    def __init__(self, root: Path) -> None:
        self.root = str(Path(root).resolve())
        self.bar = Progress(
            TextColumn("[bold]{task.description:<17}[/]"),
            BarColumn(),
            _Amount(),
            _Speed(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        self._kinds: list[str] = []

    def _row(self, label: str, total: float | None, unit: str = "items") -> Any:
        return self.bar.add_task(label, total=total, note="", unit=unit, visible=False)

    def _register(self, kind: str, callback: Any) -> None:
        from flows import progress

        progress.register(kind, self.root, callback)
        self._kinds.append(kind)

    def ingest(self, total_bytes: int | None) -> None:
        row = self._row("ingest", total_bytes or None, unit="bytes")
        records = [0]

        def advance(n_records: int, n_bytes: int) -> None:
            records[0] += n_records
            self.bar.update(row, advance=n_bytes, note=f"{records[0]:,} records", visible=True)

        self._register("ingest", advance)

    def llm(self, label: str, total: int | None) -> None:
        row = self._row(label, total)

        def advance(result: Any, stats: Any) -> None:
            elapsed = max(1e-6, time.monotonic() - stats.started)
            self.bar.update(
                row,
                completed=stats.done,
                visible=True,
                note=f"{stats.done / elapsed:.2f} items/s · ok {stats.ok} · invalid {stats.invalid} · "
                f"failed {stats.failed} · cached {stats.cache_hits} · "
                f"{stats.tokens_in + stats.tokens_out:,} tok · ${stats.cost_usd:.4f}",
            )

        self._register("llm", advance)

    def dedup(self, shards: int | None) -> None:
        signing = self._row("signatures", shards)
        verifying = self._row("verify candidates", None)
        documents = [0]

        def signed(shards_done: int, docs: int) -> None:
            documents[0] += docs
            self.bar.update(signing, advance=shards_done, note=f"shards · {documents[0]:,} documents", visible=True)

        def verified(done: int, total: int) -> None:
            self.bar.update(verifying, completed=done, total=total, note="pairs", visible=True)

        self._register("minhash", signed)
        self._register("dedup", verified)

    def decontam(self, shards: int | None) -> None:
        row = self._row("decontaminate", shards)
        texts = [0]

        def checked(shards_done: int, n_texts: int) -> None:
            texts[0] += n_texts
            self.bar.update(row, advance=shards_done, note=f"shards · {texts[0]:,} texts checked", visible=True)

        self._register("decontam", checked)

    def on_stage(self, callback: Any) -> None:
        """`callback(stage, summary, skipped)` as each stage of a pipeline ends."""
        self._register("stage", callback)

    @contextmanager
    def shown(self) -> Iterator[StageBars]:
        from flows import progress

        try:
            with self.bar:
                yield self
        finally:
            for kind in self._kinds:
                progress.unregister(kind, self.root)
