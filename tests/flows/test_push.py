"""`curate push` against a loopback fake of the Hub (tests/fake_hub.py): the real huggingface_hub client
commits the export, `datasets.load_dataset` reads every config back from the same fake, and faults (5xx,
a refused token, a missing export) give retries or clear errors. The CLI and the readers run in child
processes: HF_ENDPOINT is read when huggingface_hub is imported."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.settings import PREFECT_API_URL

from flows.cli import main
from tests.fake_hub import FakeHub
from tests.flows.test_publish_flow import make_warehouse

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

TOKEN = "hf_fakeTokenForTheLoopbackHub9876"
CURATE = [sys.executable, "-m", "flows.cli"]
READ_BACK = """
import hashlib, json, sys
import datasets
out = {}
for name in sys.argv[2:]:
    rows = datasets.load_dataset(sys.argv[1], name, split="train").to_list()
    out[name] = [len(rows), hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()]
print(json.dumps(out))
"""


def local_rows(folder: Path, name: str) -> list:
    rows = [r for f in sorted((folder / name).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return [len(rows), hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()]


def test_push_then_load_every_config_back_and_faults(tmp_path: Path, data_root: Path) -> None:
    out = tmp_path / "export"
    make_warehouse(tmp_path, data_root)
    assert main(["-d", str(data_root), "export", str(out), "--rejected", "--tokenizer", "none"]) == 0
    with FakeHub(token=TOKEN) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1"}
        env |= {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
        # The child processes use the session's Prefect API (the harness's server) instead of each starting an
        # ephemeral one (~10 s apiece on 2 cores), as they would with a `curate serve` server running.
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()

        def curate(*args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
            run_env = env | {"HF_TOKEN": token}
            return subprocess.run(
                [*CURATE, "-d", str(data_root), *args], capture_output=True, text=True, env=run_env, timeout=300
            )

        started = time.monotonic()
        pushed = curate("push", "me/edu-web", "--folder", str(out))
        push_s = time.monotonic() - started
        assert pushed.returncode == 0, pushed.stderr
        assert "commit" in pushed.stdout and TOKEN not in pushed.stdout + pushed.stderr
        parquet = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
        assert set(hub.files("me/edu-web")) == {"README.md", *parquet}
        assert len(hub.uploaded) == len(parquet) + 1  # each LFS file once, the card once

        started = time.monotonic()
        back = subprocess.run(
            [sys.executable, "-c", READ_BACK, "me/edu-web", "pretrain", "rejected"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        reload_s = time.monotonic() - started
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout.splitlines()[-1]) == {n: local_rows(out, n) for n in ("pretrain", "rejected")}
        print(f"\npush {push_s:.1f}s, reload of 2 configs {reload_s:.1f}s (each a fresh process)")

        # Pushed again unchanged: no upload, no commit.
        commits = hub.counts["commit"]
        again = curate("push", "me/edu-web", "--folder", str(out))
        assert again.returncode == 0 and "nothing changed" in again.stdout
        assert hub.counts["commit"] == commits and len(hub.uploaded) == len(parquet) + 1

        # A smaller export to a branch: the branch gets exactly its files (what it no longer has is deleted
        # there), main keeps what it had.
        smaller = tmp_path / "export-pretrain"
        assert main(["-d", str(data_root), "export", str(smaller), "--config", "pretrain", "--tokenizer", "none"]) == 0
        branch = curate("push", "me/edu-web", "--folder", str(smaller), "--revision", "pretrain-only")
        assert branch.returncode == 0, branch.stderr
        only = sorted(str(p.relative_to(smaller)) for p in smaller.rglob("*.parquet"))
        assert set(hub.files("me/edu-web", "pretrain-only")) == {"README.md", *only} != set(hub.files("me/edu-web"))
        assert set(hub.files("me/edu-web")) == {"README.md", *parquet}
        assert hub.files("me/edu-web", "pretrain-only")["README.md"] == (smaller / "README.md").read_bytes()

        # 5xx on the commit: retried with backoff; the LFS objects already stored are not sent again.
        hub.fail("commit", 500, 503)
        retried = curate("push", "me/second", "--folder", str(out), "--private")
        assert retried.returncode == 0, retried.stderr
        assert "after 3 attempts" in retried.stdout and hub.repos["me/second"]["private"]
        assert set(hub.files("me/second")) == {"README.md", *parquet}
        # Only the cards (the branch's and the second repo's) were new: the LFS objects were stored already.
        assert len(hub.uploaded) == len(parquet) + 3

        # A refused token: a clear error that shows it masked; a missing export: said before anything runs.
        refused = curate("push", "me/third", "--folder", str(out), token="hf_wrongTokenXYZ4321")
        assert refused.returncode == 1 and "refused the token (401)" in refused.stderr
        assert "hf_...4321" in refused.stderr and "hf_wrongTokenXYZ4321" not in refused.stdout + refused.stderr
        missing = curate("push", "me/third", "--folder", str(tmp_path / "nowhere"))
        assert missing.returncode == 1 and "no export at" in missing.stderr and "curate export" in missing.stderr
    for path in [*data_root.rglob("*"), *out.rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
