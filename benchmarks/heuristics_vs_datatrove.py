"""Heuristic prose rules: ours (curators.heuristics.prose) against datatrove 0.10.1's quality filters.

Documents are real English prose: the documentation of Debian packages, fetched from the apt mirror with
`apt-get download` and unpacked with `dpkg-deb -x` into benchmarks/.cache/heuristics (once; reused):
Sphinx/reST sources (Python 3.11, the Linux kernel), plain-text and AsciiDoc files (Linux, Git), Markdown
(Node.js) and HTML pages stripped to text with the standard library's html.parser (PostgreSQL 15, SQLite,
the Debian reference). One document per file; files over 64 KB are cut at blank lines into pieces of about
32 KB. The documents are shuffled (seeded) and taken until --mb megabytes of UTF-8 text.

Each side runs in its own process, one core, over the same JSONL:

  datatrove : GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter with their
              defaults, each in a separate process (benchmarks/.venv-datatrove, the virtualenv of
              dedup_vs_datatrove.py; spaCy's English tokenizer), calling `filter(doc)` per document: kept, or
              the reason it names (its first failing check). And its tokenizer on every distinct chunk of the
              corpus, to compare words with ours (curators.heuristics.words).
  curators  : the matching family of `curators.heuristics.prose` per process (gopher_quality,
              gopher_repetition, c4_quality, fineweb_quality), and all four at once (`prose_verdicts`, what
              the pipeline runs); a family's first failing rule (rules are in datatrove's check order).

MB/s per core = MB of text / CPU seconds (user + sys) of the side's process, start-up and reading included.
Agreement: per filter, the share of documents where "a rule of the family failed" equals "datatrove drops
it"; per rule, the share where "this is the first failing rule" agrees on both sides.

    .venv/bin/python benchmarks/heuristics_vs_datatrove.py [--mb 50] [--jobs 1] [--seed 0] [--examples 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "heuristics"
CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}

# Debian 12 documentation packages (names as `apt-cache search` gives them) and the files taken from each:
# (folder inside the package, glob, kind). Where a package ships both the sources and the rendered HTML,
# only the sources are taken.
PACKAGES: dict[str, list[tuple[str, str, str]]] = {
    "python3.11-doc": [("usr/share/doc/python3.11/html/_sources", "**/*.rst.txt", "text")],
    "linux-doc-6.1": [
        ("usr/share/doc/linux-doc-6.1/html/_sources", "**/*.rst.txt", "text"),
        ("usr/share/doc/linux-doc-6.1/Documentation", "**/*.txt.gz", "text"),
    ],
    "postgresql-doc-15": [("usr/share/doc/postgresql-doc-15/html", "*.html", "html")],
    "sqlite3-doc": [("usr/share/doc/sqlite3", "**/*.html", "html")],
    "git-doc": [("usr/share/doc/git-doc", "**/*.txt", "text")],
    "nodejs-doc": [("usr/share/doc/nodejs/api", "*.md.gz", "text")],
    "debian-reference-en": [("usr/share/debian-reference", "*.en.html", "html")],
}
MAX_DOC_CHARS = 64_000
PIECE_CHARS = 32_000

# datatrove's check -> our rule (its reason strings, from datatrove/pipeline/filters/*.py).
FILTERS: dict[str, dict[str, Any]] = {
    "gopher_quality": {
        "label": "Gopher quality",
        "datatrove": "GopherQualityFilter",
        "reasons": {
            "gopher_short_doc": "gopher_words",
            "gopher_long_doc": "gopher_words",
            "gopher_below_avg_threshold": "gopher_mean_word_length",
            "gopher_above_avg_threshold": "gopher_mean_word_length",
            "gopher_too_many_hashes": "gopher_hash_ratio",
            "gopher_too_many_ellipsis": "gopher_ellipsis_ratio",
            "gopher_too_many_bullets": "gopher_bullet_lines",
            "gopher_too_many_end_ellipsis": "gopher_ellipsis_lines",
            "gopher_below_alpha_threshold": "gopher_alpha_words",
            "gopher_enough_stop_words": "gopher_stop_words",
        },
    },
    "gopher_repetition": {
        "label": "Gopher repetition",
        "datatrove": "GopherRepetitionFilter",
        "reasons": {
            "empty": "gopher_rep_dup_para_frac",
            "dup_para_frac": "gopher_rep_dup_para_frac",
            "dup_para_char_frac": "gopher_rep_dup_para_char_frac",
            "dup_line_frac": "gopher_rep_dup_line_frac",
            "dup_line_char_frac": "gopher_rep_dup_line_char_frac",
            **{f"top_{n}_gram": f"gopher_rep_top_{n}gram" for n in (2, 3, 4)},
            **{f"duplicated_{n}_n_grams": f"gopher_rep_dup_{n}gram" for n in range(5, 11)},
        },
    },
    "c4": {
        "label": "C4 quality",
        "datatrove": "C4QualityFilter",
        "reasons": {
            "lorem_ipsum": "c4_lorem_ipsum",
            "curly_bracket": "c4_curly_bracket",
            "too_few_sentences": "c4_sentences",
        },
    },
    "fineweb": {
        "label": "FineWeb quality",
        "datatrove": "FineWebQualityFilter",
        "reasons": {
            "empty": "fineweb_line_punct_ratio",
            "line_punct_ratio": "fineweb_line_punct_ratio",
            "short_line_ratio": "fineweb_short_line_ratio",
            "char_dup_ratio": "fineweb_dup_line_chars",
            "list_ratio": "fineweb_list_ratio",
        },
    },
}


# ---------------------------------------------------------------------------------------------- corpus


def fetch_packages() -> Path:
    """Download and unpack the documentation packages (once). Returns the folder of unpacked packages."""
    debs = CACHE / "debs"
    unpacked = CACHE / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        target = unpacked / package
        if (target / ".done").exists():
            continue
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            print(f"apt-get download {package} ...", flush=True)
            done = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"apt-get download {package} failed:\n{done.stderr}")
            found = sorted(debs.glob(f"{package}_*.deb"))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(target)], check=True)
        (target / ".done").touch()
    return unpacked


class HTMLText(HTMLParser):
    """The visible text of an HTML page: block elements start new lines, whitespace is collapsed outside
    <pre>, scripts, styles and the <head> are left out."""

    # fmt: off
    BLOCKS = frozenset((
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
        "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul", "title",
    ))
    # fmt: on
    SKIP = frozenset(("script", "style", "head", "noscript"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
            self.pre += tag == "pre"
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")
            self.pre = max(0, self.pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self.parts).split("\n")]
        text = "\n".join(line.lstrip() if not line.startswith("  ") else line for line in lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def html_to_text(markup: str) -> str:
    parser = HTMLText()
    parser.feed(markup)
    parser.close()
    return parser.text()


def pieces(text: str) -> list[str]:
    """The text, or for a long one, consecutive pieces of about PIECE_CHARS cut at blank lines."""
    if len(text) <= MAX_DOC_CHARS:
        return [text]
    out: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in re.split(r"(?<=\n\n)", text):
        if size and size + len(paragraph) > PIECE_CHARS:
            out.append("".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph)
    if current:
        out.append("".join(current))
    return out


def documents(unpacked: Path) -> list[tuple[str, str]]:
    """(shown path, text) of every document, in a fixed order."""
    docs: list[tuple[str, str]] = []
    for package, sources in PACKAGES.items():
        for folder, pattern, kind in sources:
            base = unpacked / package / folder
            for file in sorted(base.glob(pattern)):
                if not file.is_file():
                    continue
                raw = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                if kind == "html":
                    text = html_to_text(text)
                if not text.strip():
                    continue
                shown = f"{package}/{file.relative_to(base)}"
                parts = pieces(text)
                docs.extend((f"{shown}#{i}" if len(parts) > 1 else shown, part) for i, part in enumerate(parts))
    return docs


def corpus_file(mb: float, seed: int) -> Path:
    """A JSONL of {"id", "path", "text"}: the shuffled documents up to `mb` MB (built once; reused)."""
    path = CACHE / f"corpus-{mb:g}mb-seed{seed}.jsonl"
    if path.exists():
        return path
    started = time.perf_counter()
    docs = documents(fetch_packages())
    random.Random(seed).shuffle(docs)
    budget = int(mb * 1e6)
    total = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for n, (shown, text) in enumerate(docs):
            if total >= budget:
                break
            fh.write(json.dumps({"id": f"d{n:06d}", "path": shown, "text": text}) + "\n")
            total += len(text.encode("utf-8"))
    if total < budget:
        print(f"warning: only {total / 1e6:.1f} MB of documents available")
    tmp.rename(path)
    print(f"built {path.relative_to(ROOT)} in {time.perf_counter() - started:.1f}s")
    return path


def read_corpus(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# ----------------------------------------------------------------------------------------- the children


def distinct_chunks(records: list[dict[str, str]]) -> list[str]:
    """The distinct whitespace-separated chunks of the corpus, in order of first appearance."""
    return list(dict.fromkeys(chunk for record in records for chunk in record["text"].split()))


def run_datatrove(corpus: Path, name: str) -> list[str | None] | list[list[str]]:
    """Runs inside benchmarks/.venv-datatrove: datatrove's reason per document (None: kept); for "tokens",
    the words its English tokenizer (spaCy) makes of each distinct chunk."""
    from datatrove.data import Document
    from datatrove.pipeline import filters
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    if name == "tokens":
        tokenizer = load_word_tokenizer("en")
        return [tokenizer.word_tokenize(chunk) for chunk in distinct_chunks(read_corpus(corpus))]
    step = getattr(filters, FILTERS[name]["datatrove"])()
    out: list[str | None] = []
    for record in read_corpus(corpus):
        result = step.filter(Document(text=record["text"], id=record["id"]))
        out.append(None if result is True else result[1])
    return out


def run_ours(corpus: Path, name: str) -> list[str | None] | dict[str, list[str | None]]:
    """Our first failing rule per document (None: all passed); for "all", per family."""
    from curators.heuristics import prose

    t = prose.ProseThresholds()
    records = read_corpus(corpus)
    if name != "all":
        family = prose.FAMILIES[name]
        return [_first_failed(family(prose.ProseDoc(r["text"]), t)) for r in records]
    spans: dict[str, tuple[int, int]] = {}
    start = 0
    for family, rules in prose.FAMILY_RULES.items():
        spans[family] = (start, start + len(rules))
        start += len(rules)
    out: dict[str, list[str | None]] = {family: [] for family in spans}
    for r in records:
        verdicts = prose.prose_verdicts(r["text"], t)
        for family, (a, b) in spans.items():
            out[family].append(_first_failed(verdicts[a:b]))
    return out


def _first_failed(verdicts: list[Any]) -> str | None:
    return next((v.rule for v in verdicts if not v.passed), None)


def child(args: argparse.Namespace) -> None:
    side, name = args.child.split(":")
    result = run_datatrove(Path(args.corpus), name) if side == "datatrove" else run_ours(Path(args.corpus), name)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"result": result, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, fh)


# ------------------------------------------------------------------------------------------- the parent


def measure(python: Path, job: str, corpus: Path, work: Path) -> dict[str, Any]:
    """One child process; its CPU seconds come from wait4."""
    work.mkdir(parents=True, exist_ok=True)
    stem = job.replace(":", "-")
    out = work / f"{stem}.json"
    errors = work / f"{stem}.stderr"
    command = [str(python), __file__, "--child", job, "--corpus", str(corpus), "--out", str(out)]
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with open(errors, "w") as se:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=se, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{job} failed:\n{errors.read_text()[-3000:]}")
    data = json.loads(out.read_text())
    data["seconds"] = time.perf_counter() - started
    data["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    out.write_text(json.dumps(data))
    return data


def agreement(ours: list[str | None], theirs: list[str | None], reasons: dict[str, str]) -> dict[str, Any]:
    """Document-level and per-rule agreement of our first failing rule with datatrove's reason."""
    mapped = [None if r is None else reasons.get(r, f"? {r}") for r in theirs]
    n = len(ours)
    rules = sorted({r for r in mapped if r} | {r for r in ours if r}, key=list(reasons.values()).index)
    per_rule = {}
    for rule in rules:
        a = [x == rule for x in ours]
        b = [x == rule for x in mapped]
        per_rule[rule] = {
            "ours": sum(a),
            "datatrove": sum(b),
            "both": sum(x and y for x, y in zip(a, b, strict=True)),
            "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / n,
        }
    return {
        "dropped_ours": sum(x is not None for x in ours),
        "dropped_datatrove": sum(x is not None for x in mapped),
        "documents": sum((x is None) == (y is None) for x, y in zip(ours, mapped, strict=True)) / n,
        "first_rule": sum(x == y for x, y in zip(ours, mapped, strict=True)) / n,
        "per_rule": per_rule,
        "mismatches": [i for i, (x, y) in enumerate(zip(ours, mapped, strict=True)) if x != y],
        "mapped": mapped,
        "ours": ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50.0, help="Megabytes of text (default 50).")
    parser.add_argument("--seed", type=int, default=0, help="Order in which documents are taken.")
    parser.add_argument("--jobs", type=int, default=1, help="Child processes at a time (each is one core).")
    parser.add_argument("--examples", type=int, default=3, help="Disagreeing documents shown per filter.")
    parser.add_argument(
        "--reuse-datatrove", action="store_true", help="Reuse datatrove's results of an earlier run on this corpus."
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(HERE))
    from dedup_vs_datatrove import ensure_datatrove

    corpus = corpus_file(args.mb, args.seed)
    records = read_corpus(corpus)
    mb = sum(len(r["text"].encode("utf-8")) for r in records) / 1e6
    datatrove_python = ensure_datatrove()
    packages = sorted({r["path"].split("/")[0] for r in records})
    print(
        f"input: {len(records):,} documents, {mb:.1f} MB of English documentation ({', '.join(packages)}; "
        f"seed {args.seed}); cores: {os.cpu_count()} (each run: one process, one core; {args.jobs} at a time)"
    )
    jobs = [f"datatrove:{name}" for name in FILTERS] + [f"ours:{name}" for name in FILTERS] + ["ours:all"]
    jobs.append("datatrove:tokens")
    pythons = {job: datatrove_python if job.startswith("datatrove") else Path(sys.executable) for job in jobs}
    work = CACHE / "runs" / corpus.stem
    reused = {}
    if args.reuse_datatrove:
        for job in jobs:
            saved = work / f"{job.replace(':', '-')}.json"
            if job.startswith("datatrove") and saved.exists():
                reused[job] = json.loads(saved.read_text())
        if reused:
            print(f"reusing datatrove's results and timings of an earlier run for {', '.join(reused)}")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {job: pool.submit(measure, pythons[job], job, corpus, work) for job in jobs if job not in reused}
        results = {**reused, **{job: future.result() for job, future in futures.items()}}

    print(
        f"\n{'filter':<20}{'docs dropped':>16}{'agreement':>11}{'same rule':>11}"
        f"{'datatrove':>12}{'ours':>9}{'ours':>9}{'ours/dt':>9}"
    )
    print(f"{'':<20}{'datatrove/ours':>16}{'(docs)':>11}{'(first)':>11}{'MB/s':>12}{'MB/s':>9}{'all¹':>9}{'':>9}")
    together = results["ours:all"]["result"]
    stats = {}
    for name, spec in FILTERS.items():
        theirs = results[f"datatrove:{name}"]
        ours = results[f"ours:{name}"]
        assert ours["result"] == together[name], f"{name}: the family alone and prose_verdicts disagree"
        g = stats[name] = agreement(ours["result"], theirs["result"], spec["reasons"])
        rate_dt = mb / theirs["cpu_seconds"]
        rate_ours = mb / ours["cpu_seconds"]
        print(
            f"{spec['label']:<20}{g['dropped_datatrove']:>8,}/{g['dropped_ours']:<7,}{g['documents']:>11.4f}"
            f"{g['first_rule']:>11.4f}{rate_dt:>12.2f}{rate_ours:>9.2f}{'':>9}{rate_ours / rate_dt:>8.1f}x"
        )
    dt_cpu = sum(results[f"datatrove:{name}"]["cpu_seconds"] for name in FILTERS)
    all_cpu = results["ours:all"]["cpu_seconds"]
    print(
        f"{'all four':<20}{'':>16}{'':>11}{'':>11}{mb / dt_cpu:>12.2f}{'':>9}{mb / all_cpu:>9.2f}"
        f"{dt_cpu / all_cpu:>8.1f}x"
    )
    print(
        "¹ all families in one process (prose_verdicts: words, lines shared); datatrove: the four filters' CPU "
        "seconds summed.\nCPU seconds: "
        + ", ".join(f"{job} {results[job]['cpu_seconds']:.1f}" for job in jobs)
        + "\npeak RSS MiB: "
        + ", ".join(f"{job} {results[job]['peak_mib']:.0f}" for job in jobs)
    )
    print(
        "\nper rule: documents whose first failing check is this rule (datatrove's reason mapped to our rule), "
        "and the share of documents where both sides agree on that"
    )
    print(f"{'filter':<20}{'rule':<32}{'datatrove':>10}{'ours':>8}{'both':>8}{'agreement':>11}")
    for name, spec in FILTERS.items():
        for rule, r in stats[name]["per_rule"].items():
            print(
                f"{spec['label']:<20}{rule:<32}{r['datatrove']:>10,}{r['ours']:>8,}{r['both']:>8,}"
                f"{r['agreement']:>11.4f}"
            )
    low = [
        f"{FILTERS[name]['label']} {rule}"
        for name, g in stats.items()
        for rule, r in g["per_rule"].items()
        if r["agreement"] < 0.99
    ] + [FILTERS[name]["label"] for name, g in stats.items() if g["documents"] < 0.99]
    slow = [
        FILTERS[name]["label"]
        for name in FILTERS
        if results[f"datatrove:{name}"]["cpu_seconds"] / results[f"ours:{name}"]["cpu_seconds"] < 10
    ]
    print(
        f"\ngoal: agreement >= 0.99 per filter and per rule: {'met' if not low else 'NOT met: ' + ', '.join(low)}; "
        f">= 10x datatrove's MB/s per core per filter: {'met' if not slow else 'NOT met: ' + ', '.join(slow)}"
    )
    from curators.heuristics.words import tokenize_chunk

    chunks = distinct_chunks(records)
    spacy_tokens = results["datatrove:tokens"]["result"]
    differ = [(c, t) for c, t in zip(chunks, spacy_tokens, strict=True) if list(tokenize_chunk(c)) != t]
    print(
        f"\nwords: of the {len(chunks):,} distinct whitespace-separated chunks, {len(chunks) - len(differ):,} are "
        f"cut into the same words as datatrove's English (spaCy) tokenizer cuts them, {len(differ):,} differently"
        + "".join(f"\n  {c!r}: spaCy {t} -> ours {list(tokenize_chunk(c))}" for c, t in differ[: args.examples])
    )
    if args.examples:
        shown = [
            f"  {FILTERS[name]['label']}: {records[i]['path']}: {g['mapped'][i]} -> {g['ours'][i]}"
            for name, g in stats.items()
            for i in g["mismatches"][: args.examples]
        ]
        print("\ndisagreements (document: datatrove's first failing check -> ours):", *(shown or ["  none"]), sep="\n")


if __name__ == "__main__":
    main()
