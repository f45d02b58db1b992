"""The quality table of a batch: one row per document, the rules of its profile (the others null), the language
check for prose only, rules switched off measured but passing, and the warehouse's columns = the rules."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest

from curators.heuristics.code import CODE_RULES
from curators.heuristics.config import ALL_RULES, Policies, QualityConfig, SourcePolicy, policies_for
from curators.heuristics.prose import PROSE_RULES
from curators.heuristics.quality import Document, code_language, quality_table
from curators.ingest.config import IngestConfig, SourceSpec
from curators.ingest.plan import stdlib_dir
from warehouse.schemas import QUALITY, QUALITY_RULES

GPL = Path("/usr/share/common-licenses/GPL-3")


def test_the_warehouse_has_a_column_per_rule() -> None:
    assert QUALITY_RULES == ALL_RULES == PROSE_RULES + CODE_RULES
    assert len(set(ALL_RULES)) == len(ALL_RULES)
    assert [f.name for f in QUALITY][8 : 8 + len(ALL_RULES)] == list(ALL_RULES)


def test_policies_come_from_the_sources_with_ingest_languages_as_default() -> None:
    ingest = IngestConfig(
        languages=["en"],
        sources=[SourceSpec(path="a", name="web"), SourceSpec(path="b", profile="code", languages=["de"])],
    )
    policies = policies_for(ingest)
    assert policies.of("web") == SourcePolicy(profile="auto", languages=["en"])
    assert policies.of("b") == SourcePolicy(profile="code", languages=["de"])
    assert policies.of("adhoc") == SourcePolicy(profile="auto", languages=["en"])
    with pytest.raises(ValueError, match="unknown rule"):
        QualityConfig(skip_rules=["gopher_nonsense"])


def test_code_language_is_read_from_meta() -> None:
    assert code_language('{"language": "python", "path": "x.py"}') == "python"
    assert code_language('{"path": "x.txt"}') is None
    assert code_language(None) is None and code_language("not json") is None and code_language("[1]") is None


def test_rows_by_profile_language_and_skipped_rules() -> None:
    prose = "\n\n".join(" ".join(p.split()) for p in GPL.read_text()[:6000].split("\n\n"))  # unwrapped
    with open("/usr/share/locale/fr/LC_MESSAGES/coreutils.mo", "rb") as fh:
        french = "\n".join(m for m in gettext.GNUTranslations(fh)._catalog.values() if len(str(m).split()) > 8)[:3000]
    code = (stdlib_dir() / "textwrap.py").read_text()
    docs = [
        Document("p", "web", prose, None),
        Document("f", "web", french, None),
        Document("c", "web", code, "python"),  # auto: code, because ingest read it as code
        Document("n", "raw", "anything at all", None),
    ]
    policies = Policies(
        sources={"raw": SourcePolicy(profile="none", languages=["en"])}, default=SourcePolicy(languages=["en"])
    )
    table = quality_table(docs, policies, QualityConfig(), "run-1")
    assert table.schema == QUALITY
    rows = {r["id"]: r for r in table.to_pylist()}
    assert [rows[i]["profile"] for i in "pfcn"] == ["prose", "prose", "code", "none"]
    assert rows["p"]["lang"] == "en" and rows["p"]["lang_ok"] and rows["p"]["passed"], rows["p"]["failed"]
    assert rows["f"]["lang"] == "fr" and not rows["f"]["lang_ok"]
    assert all(rows["p"][r] is not None for r in PROSE_RULES) and all(rows["p"][r] is None for r in CODE_RULES)
    assert all(rows["c"][r] is not None for r in CODE_RULES) and all(rows["c"][r] is None for r in PROSE_RULES)
    assert rows["c"]["lang_ok"]  # code is not language-checked
    assert all(rows["n"][r] is None for r in ALL_RULES) and rows["n"]["passed"] and rows["n"]["lang_ok"]
    # The French text fails rules (English stop words); skipping them keeps the values, not the failures.
    failed = rows["f"]["failed"]
    assert failed and all(not rows["f"][r]["passed"] and rows["f"][r]["reason"] for r in failed)
    relaxed = quality_table(docs[1:2], policies, QualityConfig(skip_rules=failed), "run-2").to_pylist()[0]
    assert relaxed["passed"] and relaxed["failed"] == []
    assert all(relaxed[r]["value"] == rows["f"][r]["value"] and relaxed[r]["reason"] is None for r in failed)
