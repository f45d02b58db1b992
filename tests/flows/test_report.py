"""`curate report`: one self-contained HTML file, rendered in a real headless browser (Debian's chromium,
installed by `make test`; the browser part is skipped, saying why, when it is not there)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from flows.cli import main
from tests.flows.test_publish_flow import make_warehouse
from warehouse.catalog import query, refresh_views
from warehouse.schemas import FILTERS, SCORES
from warehouse.shards import run_dir, shard_name, write_run_rows, write_shard

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def png_pixels(path: Path) -> bytes:
    """The decompressed scanlines of a PNG (filter bytes included): enough to tell a blank page."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, k = [], 8
    while k < len(data):
        (length,) = struct.unpack(">I", data[k : k + 4])
        kind = data[k + 4 : k + 8]
        if kind == b"IDAT":
            chunks.append(data[k + 8 : k + 8 + length])
        k += 12 + length
    return zlib.decompress(b"".join(chunks))


def add_scores(root: Path) -> None:
    """A filter's scores, spread over 0-5, so the histogram and the threshold have something to show."""
    _, rows = query(root, "SELECT id FROM docs ORDER BY id")
    confusion = [[int(i == j) + int(i == j == 3) for j in range(6)] for i in range(6)]
    metrics = json.dumps({"filter": {"confusion": confusion}})
    flt = {"filter_id": "f1", "path": "filters/f1", "kind": "regressor", "embedder": "all-MiniLM-L6-v2"}
    flt |= {"labellers": '["m"]', "n_labels": 7, "threshold": 3, "f1": 0.8, "baseline_f1": 0.4, "metrics": metrics}
    flt |= {"created": datetime.now(UTC), "run_id": "train-1"}
    write_shard(run_dir(root, "filters", "train-1") / shard_name(0, 0), pa.Table.from_pylist([flt], FILTERS))
    scores = [
        {"id": r[0], "filter_id": "f1", "score": 0.6 * k, "proba": 0.5, "keep": 0.6 * k >= 2.5, "run_id": "s-1"}
        for k, r in enumerate(rows)
    ]
    write_shard(run_dir(root, "scores", "s-1") / shard_name(0, 0), pa.Table.from_pylist(scores, SCORES))
    refresh_views(root)


def add_generations(root: Path, texts: list[str]) -> None:
    """Textbooks of seeds over two audiences and two styles, so diversity per axis has groups to compare."""
    seeds, generations = [], []
    for k, text in enumerate(texts):
        seed = {"seed_id": f"s{k}", "kind": "taxonomy", "subject": ("math", "biology")[k % 2]}
        seed |= {"audience": ("children", "researchers")[k % 2], "style": ("textbook", "story")[k // 2 % 2]}
        seeds.append(seed | {"run_id": "synth-1"})
        generations.append(
            {"id": f"g{k}", "task": "textbook", "seed_id": f"s{k}", "prompt_id": "textbook@v1:0", "model": "m"}
            | {"text": text, "status": "ok", "run_id": "synth-1"}
        )
    write_run_rows(root, "seeds", "synth-1", seeds)
    write_run_rows(root, "generations", "synth-1", generations)
    refresh_views(root)


def test_the_report_is_one_offline_file_that_a_browser_draws_without_error(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = make_warehouse(tmp_path, data_root)
    add_scores(data_root)
    add_generations(data_root, texts)
    page = tmp_path / "report.html"
    assert main(["-d", str(data_root), "report", "--out", str(page)]) == 0
    printed = capsys.readouterr().out
    assert "counted the tokens of 9 documents (smollm2)" in printed and "report" in printed
    text = page.read_text()
    # Self-contained: plotly.js inlined; outside the scripts, no tag loads anything from anywhere.
    markup = re.sub(r"<script[^>]*>.*?</script>", "<script></script>", text, flags=re.DOTALL)
    assert re.findall(r"<(?:script|link|img|iframe)[^>]*(?:src|href)=", markup) == []
    assert len(text) > 1_000_000
    for title in ("Funnel", "Kept and dropped", "Educational filter", "Scores", "Deduplication", "Runs"):
        assert f"<h2>{title}" in text, title
    assert "tokens (smollm2)" in text  # the funnel in tokens too
    diversity = text.split("<h2>Synthetic diversity per axis")[1].split("</section>")[0]
    for axis, value in (("audience", "children"), ("audience", "researchers"), ("style", "story")):
        assert f"<td>{axis}</td><td>{value} (small)</td><td>4</td>" in diversity, (axis, value)

    # The card of the same warehouse tells the filter's story too.
    assert main(["-d", str(data_root), "export", str(tmp_path / "export"), "--tokenizer", "none"]) == 0
    card = (tmp_path / "export" / "README.md").read_text()
    assert "## Educational filter" in card and "majority baseline 0.400" in card and "Confusion matrix" in card
    assert "| below the filter's threshold | 5 |" in card
    assert "## Diversity of the synthetic data" in card and "| audience | children (small) | 4 |" in card

    chromium = browser()
    if chromium is None:
        pytest.skip("no chromium here (`make test` installs Debian's package when it can): the page was not drawn")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=8000"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-js-errors="0"' in dom.stdout
    charts = int(dom.stdout.split('data-charts="')[1].split('"')[0])
    assert charts >= 8  # every plot drew its SVG
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [*flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120
    )
    assert done.returncode == 0 and shot.is_file()
    pixels = png_pixels(shot)
    assert len(set(pixels)) > 50 and sum(b != 0 for b in pixels) > len(pixels) // 100  # not a blank page
