"""Self-Instruct's seed tasks: data the user can replace (`instruct.instructions.self_instruct.seed_tasks`).

The packaged file `data/seed_tasks.jsonl` holds ~150 tasks written for this project, spread over the topic
taxonomy's subjects and seven kinds of task (open QA, explanation, coding, math word problems, rewriting,
classification, brainstorming). A line: {"id", "kind", "subject", "instruction", "input", "output"}; only
`instruction` is required (an `input` is appended to it, as Self-Instruct shows its instances).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from curators.errors import ConfigError

PACKAGED = Path(__file__).resolve().parent / "data" / "seed_tasks.jsonl"


@dataclass(frozen=True)
class SeedTask:
    id: str
    kind: str
    subject: str
    text: str  # the instruction, with its input when it has one


def load_seed_tasks(path: Path | None = None) -> list[SeedTask]:
    """The seed tasks of `path` (default: the packaged ones); a clear error for a bad line."""
    path = Path(path) if path is not None else PACKAGED
    if not path.is_file():
        raise ConfigError(
            f"seed tasks file {path} does not exist", hint="a JSONL file, one {'instruction': ...} a line"
        )
    tasks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            instruction = str(row["instruction"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}:{number}: not a seed task ({type(exc).__name__}: {exc})",
                hint='each line a JSON object with at least "instruction"',
            ) from None
        if not instruction:
            raise ConfigError(f"{path}:{number}: empty instruction")
        text = instruction + (f"\n\n{row['input'].strip()}" if str(row.get("input") or "").strip() else "")
        task_id = str(row.get("id") or "seed-" + hashlib.sha256(text.encode()).hexdigest()[:12])
        tasks.append(SeedTask(task_id, str(row.get("kind") or ""), str(row.get("subject") or ""), text))
    if not tasks:
        raise ConfigError(f"{path} holds no seed task")
    if len({t.id for t in tasks}) != len(tasks):
        raise ConfigError(f"{path}: seed task ids repeat")
    return tasks
