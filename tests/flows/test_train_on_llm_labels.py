"""The filter trained on labels an LLM produced: the embedded llama.cpp server (SmolLM2-135M) labels a small
mixed corpus through `label_flow`, then `train_flow` trains and registers a filter on those labels.

The 135M model's scores are close to useless, so this checks the mechanics, not a quality number: every
label is the model's (none written by rule), a filter is registered on them, and its metrics and the
majority baseline are reported and in range. The filter's class settings (`threshold`, `min_labels`) are
set from the labels the model gave, so that a binary filter can be trained on whatever it answered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curators.config import EmbedConfig, FilterConfig, IngestConfig, LabelConfig, LLMConfig, SourceSpec
from curators.filter.forest import load_filter
from curators.filter.label import CHARS_PER_TOKEN
from curators.filter.store import check_trainable
from curators.llm.local_server import TEST_MODEL, completions_in_log
from flows.ingest import ingest_flow
from flows.label import label_flow
from flows.train import train_flow
from tests.realtext import real_documents
from warehouse.catalog import query
from warehouse.listings import latest_run

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

MIN_SIDE = 2  # labels needed on each side of the threshold (k-fold needs two of each class)
MAX_DOC_TOKENS = 64  # documents are cut to ~256 characters: short prompts for a 2-core machine

JUNK = [
    "BUY NOW!!! cheap pills $$$ click here >>> free spins casino bonus win win win click click",
    "lol lol lol asdf asdf qwerty ,,,, ;;;; zzzz 1234 1234 ???? !!!! lol asdf qwerty zzzz",
    "SALE SALE SALE 90% OFF best price best price order today limited offer call now call now",
    "<div><div><span>menu</span> | home | login | cart (0) | </div> cookies accept accept</div>",
    "aaaaaa bbbbbb aaaaaa bbbbbb cccccc aaaaaa bbbbbb cccccc dddddd aaaaaa bbbbbb cccccc dddd",
]


def mixed_corpus(path: Path) -> dict[str, str]:
    """Explanatory stdlib docstrings, generated codec tables, licence texts, and plain junk."""
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for name, text, _ in real_documents():
        by_kind.setdefault(name.split(":")[0], []).append((name, text))
    docs = dict(by_kind["doc"][:5] + by_kind["table"][::10][:3] + by_kind.get("licence", [])[:3])
    docs |= {f"junk:{i}": text * 4 for i, text in enumerate(JUNK)}
    sent = {text[: MAX_DOC_TOKENS * CHARS_PER_TOKEN] for text in docs.values()}
    assert len(sent) == len(docs)  # no two prompts alike: every label is a paid answer of its own
    path.write_text("".join(json.dumps({"name": name, "text": text}) + "\n" for name, text in docs.items()))
    return docs


def split_threshold(scores: list[int]) -> int:
    """The threshold (1-5) that leaves the most labels on its thinner side."""
    return max(range(1, 6), key=lambda t: (min(sum(s >= t for s in scores), sum(s < t for s in scores)), -t))


def test_a_filter_is_trained_on_labels_the_embedded_llm_gave(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATE_MODEL_CACHE", str(tmp_path / "models"))
    docs = mixed_corpus(tmp_path / "mixed.jsonl")
    source = SourceSpec(path=str(tmp_path / "mixed.jsonl"), name="mixed", id_field="name")
    ingest_flow(str(data_root), IngestConfig(sources=[source]))
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(len(docs),)]

    # Label every document with the real embedded server: one thread (steady on 2 busy cores) and one slot. With
    # several slots, llama-server's batched answers at temperature 0 vary from run to run, and a run where the model
    # gave one answer to nearly every document left nothing to train a binary filter on (seen on a full run).
    llm = LLMConfig(local_model=TEST_MODEL, local_threads=1, local_slots=1)
    labelled = label_flow(
        str(data_root), LabelConfig(n=len(docs), strategy="random", max_doc_tokens=MAX_DOC_TOKENS, batch=4), llm
    )
    assert labelled.requested == len(docs) and labelled.ok + labelled.invalid + labelled.failed == len(docs)
    assert labelled.http_requests >= labelled.ok + labelled.invalid and labelled.tokens_in > 0

    # Every label is the model's answer, from this label run; none was written by rule.
    _, rows = query(data_root, "SELECT DISTINCT model, run_id, cached FROM labels_all")
    assert rows == [(TEST_MODEL, labelled.run_id, False)]
    _, rows = query(
        data_root,
        "SELECT l.id, l.score, l.raw, l.tokens_in, l.prompt_id, r.key FROM labels l "
        "LEFT JOIN llm_responses r ON r.key = l.cache_key WHERE l.status = 'ok'",
    )
    assert all(raw and tokens_in > 0 and prompt_id.startswith("edu") for _, _, raw, tokens_in, prompt_id, _ in rows)
    assert all(key is not None for *_, key in rows)  # each ok label is a paid answer in the response cache
    served = sum(completions_in_log(p) for p in (data_root / "llm").glob("*.log"))
    assert served == labelled.http_requests  # the llama.cpp server answered every request
    scores = [score for _, score, *_ in rows]
    assert all(0 <= s <= 5 for s in scores)

    # The filter's class settings follow what the model answered (a 135M model is no judge of quality).
    threshold = split_threshold(scores)
    thinner = min(sum(s >= threshold for s in scores), sum(s < threshold for s in scores))
    assert thinner >= MIN_SIDE, f"the model's scores {sorted(scores)} cannot train a binary filter"
    config = FilterConfig(threshold=threshold, min_labels=2 * MIN_SIDE, n_estimators=50)
    check_trainable(data_root, config)  # the check the pipeline makes before training

    card = train_flow(str(data_root), config, EmbedConfig())
    train_run = latest_run(data_root, "train")
    assert train_run is not None and train_run.counts["n_labels"] == len(scores)
    assert card["labellers"] == [TEST_MODEL] and card["n_labels"] == len(scores)
    assert all(p.startswith("edu") for p in card["prompt_ids"])
    assert sum(card["label_counts"].values()) == len(scores)

    # The filter is registered, from this train run, and loads.
    _, rows = query(data_root, "SELECT filter_id, path, labellers, n_labels, f1, baseline_f1, run_id FROM filters")
    ((filter_id, path, labellers, n_labels, f1, baseline_f1, run_id),) = rows
    assert filter_id == card["filter_id"] and run_id == train_run.run_id
    assert json.loads(labellers) == [TEST_MODEL] and n_labels == len(scores)
    assert load_filter(Path(path)).threshold == threshold

    # The metrics and the majority baseline are reported, over every label, and in range.
    metrics = card["metrics"]
    assert metrics["threshold"] == threshold and "fold" in metrics["evaluation"]
    for name in ("filter", "majority_baseline"):
        m = metrics[name]
        assert all(0.0 <= m[k] <= 1.0 for k in ("precision", "recall", "f1", "macro_f1")), (name, m)
        assert 0.0 <= m["mae"] <= 5.0 and m["n"] == len(scores)
        assert sum(map(sum, m["confusion"])) == len(scores)
    assert f1 == metrics["filter"]["f1"] and baseline_f1 == metrics["majority_baseline"]["f1"]
    assert train_run.counts["f1"] == f1
