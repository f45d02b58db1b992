"""Pushing an export to the Hugging Face Hub with huggingface_hub: the repository created if missing, then one
commit of the export's card and files. A rerun uploads only what the Hub does not have: the preupload answer
gives the remote file's id and unchanged files are left out of the commit, and LFS objects already stored are
not sent again. 429 and 5xx answers are retried with backoff; a refused token is a clear error that names the
token only masked. The token is never printed, logged, or written anywhere."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from curators.errors import CurateError
from curators.publish.export import MARKER

RETRIED = {429, 500, 502, 503, 504}
TOKEN_HINT = (
    "set HF_TOKEN (or `settings.hf_token`) to a token with write access: https://huggingface.co/settings/tokens"
)


@dataclass(frozen=True)
class Pushed:
    repo_url: str
    commit_url: str | None  # None when nothing changed since the last push
    files: int  # files of the export
    attempts: int


def mask(token: str | None) -> str:
    """A token as it may be shown: its kind and last 4 characters."""
    if not token:
        return "no token"
    return f"{token[:3]}...{token[-4:]}" if len(token) > 10 else "****"


def check_export(folder: Path) -> list[Path]:
    """The files to push; a clear error when `folder` is not an export."""
    if not (folder / "README.md").is_file() or not (folder / MARKER).is_file():
        raise CurateError(f"no export at {folder}", hint=f"write one first: `curate export {folder}`")
    return sorted(p for p in folder.rglob("*.parquet")) + [folder / "README.md"]


def push_export(
    folder: Path,
    repo_id: str,
    token: str | None,
    private: bool = False,
    revision: str | None = None,
    attempts: int = 5,
    backoff_s: float = 2.0,
) -> Pushed:
    """Create `repo_id` (a dataset repository) if needed and commit the export to `revision` (default main)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    folder = Path(folder).resolve()
    files = check_export(folder)
    api = HfApi(token=token)
    for attempt in range(1, attempts + 1):
        try:
            # None, not False: a repository not asked private follows its organisation's default.
            repo = api.create_repo(repo_id, repo_type="dataset", private=True if private else None, exist_ok=True)
            if revision:
                api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
            before = api.dataset_info(repo_id, revision=revision).sha
            commit = api.upload_folder(
                folder_path=folder,
                repo_id=repo_id,
                repo_type="dataset",
                revision=revision,
                allow_patterns=["README.md", "*/*.parquet"],
                # The export is the dataset: a config or a shard it no longer has leaves the branch too.
                delete_patterns=["*/*.parquet"],
                commit_message="curate export",
            )
            changed = commit is not None and commit.oid != before
            url = commit.commit_url if changed else None
            return Pushed(repo_url=str(repo), commit_url=url, files=len(files), attempts=attempt)
        except OfflineModeIsEnabled as exc:
            raise CurateError(
                "the Hub cannot be reached: HF_HUB_OFFLINE is set", hint="unset HF_HUB_OFFLINE to push"
            ) from exc
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise CurateError(
                    f"the Hub refused the token ({status}) for {repo_id}: {mask(token)}", hint=TOKEN_HINT
                ) from None
            if status in RETRIED and attempt < attempts:
                retry_after = exc.response.headers.get("Retry-After") if exc.response is not None else None
                time.sleep(
                    float(retry_after) if retry_after and retry_after.isdigit() else backoff_s * 2 ** (attempt - 1)
                )
                continue
            raise CurateError(f"the Hub answered {status} for {repo_id}: {_first_line(str(exc))}") from None
    raise AssertionError("unreachable")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    token = os.environ.get("HF_TOKEN")
    return line.replace(token, mask(token)) if token else line
