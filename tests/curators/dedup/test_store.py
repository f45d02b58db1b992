"""How the cluster step cuts candidate pairs into verification blocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curators.dedup.store import MIN_VERIFY_BLOCK_PAIRS, verify_block_size


@pytest.mark.parametrize(
    ("pairs", "max_pairs", "blocks", "size"),
    [
        (100_000, 20_000, 1, 20_000),  # the configured block size, one process
        (100_000, 20_000, 8, 12_500),  # eight at once
        (30_000, 20_000, 2, 15_000),  # two blocks, not 20,000 + 10,000
        (25_001, 20_000, 2, 12_501),  # small: cut in two while each block keeps MIN_VERIFY_BLOCK_PAIRS
        (13_000, 20_000, 2, MIN_VERIFY_BLOCK_PAIRS),  # not below the minimum
        (100, 20_000, 4, MIN_VERIFY_BLOCK_PAIRS),  # one block
        (10, 2, 4, 2),  # never over the configured size
        (0, 20_000, 2, MIN_VERIFY_BLOCK_PAIRS),
    ],
)
def test_verify_block_size(pairs: int, max_pairs: int, blocks: int, size: int) -> None:
    assert verify_block_size(pairs, max_pairs, blocks) == size


DEDUP_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from curators.config import IngestConfig, SourceSpec
from curators.dedup.config import DedupConfig
from curators.dedup.store import cluster, signature_shard
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from warehouse.listings import text_shards
from warehouse.runs import open_run

root, corpus = Path(sys.argv[1]), sys.argv[2]
config = IngestConfig(sources=[SourceSpec(path=corpus, name="t", format="jsonl")])
with open_run(root, "ingest", config) as run:
    for unit in plan_units(config).units:
        ingest_unit(unit, root, run.run_id, config)
loaded = "pandas" in sys.modules
dedup = DedupConfig()
with open_run(root, "minhash", dedup.minhash) as run:
    for shard in text_shards(root, "docs"):
        signature_shard(root, run.run_id, shard, dedup.minhash)
with open_run(root, "dedup", dedup) as run:
    result, _ = cluster(root, run.run_id, "docs", dedup)
print(json.dumps({"verified": result.verified, "dups": len(result.dups), "pandas": "pandas" in sys.modules,
                  "pandas_before": loaded}))
"""


def test_signing_and_verifying_in_a_fresh_process_do_not_import_pandas(tmp_path: Path) -> None:
    """A dedup whose pairs are verified in the flow's process (under 24,000 pairs) read texts and wrote pairs with
    pyarrow calls that import pandas (~0.3 s); they are read with DuckDB and written from buffers now."""
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(600)]  # 600 distinct, no digits
    base = " ".join(words)
    rows = [{"text": base}, {"text": base.replace(" wfa ", " changed ")}, {"text": "other words " * 40}]
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", DEDUP_IN_A_FRESH_PROCESS, str(tmp_path / "root"), str(corpus)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["verified"] == 1 and found["dups"] == 1  # the near copy was verified and removed
    assert found["pandas"] is False, found
