"""A loopback fake of the Hugging Face Hub, enough for `huggingface_hub` to create a dataset repository and
commit files to it (regular and LFS, with HF_HUB_DISABLE_XET=1), and for `datasets.load_dataset` to read it
back. The only fake the project's rules allow besides fault injection: the Hub cannot be reached here.

Start with `with FakeHub() as hub:`; point HF_ENDPOINT at `hub.url` in the process that uses the Hub (it is
read when huggingface_hub is imported). `hub.fail(kind, *statuses)` answers the next requests of a kind
("create", "preupload", "commit", "lfs-batch", "lfs-upload", "read") with those statuses; `hub.token`, when
set, is the only token accepted (else 401).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".parquet", ".arrow", ".bin")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    """The request body, sent with a Content-Length or chunked."""
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                h.rfile.readline()
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class FakeHub:
    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.repos: dict[
            str, dict[str, Any]
        ] = {}  # repo id -> {"private", "branches": {name: sha}, "trees": {sha: files}}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content
        self.counts: Counter[str] = Counter()  # request kind -> requests answered
        self.uploaded: list[str] = []  # LFS oids PUT, and regular files committed, in order
        self.log: list[str] = []  # "METHOD path" of every request
        self._failures: dict[str, list[int]] = defaultdict(list)
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                hub._handle(self, "GET")

            def do_HEAD(self) -> None:  # noqa: N802
                hub._handle(self, "HEAD")

            def do_POST(self) -> None:  # noqa: N802
                hub._handle(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                hub._handle(self, "PUT")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, kind: str, *statuses: int) -> None:
        with self._lock:
            self._failures[kind].extend(statuses)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a branch: path -> content."""
        repo = self.repos[repo_id]
        tree = repo["trees"][repo["branches"][revision]]
        return {path: self.lfs[f["lfs"]] if f["lfs"] else f["data"] for path, f in tree.items()}

    # ------------------------------------------------------------------------------------------ serving

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(h.path)
        path = unquote(parsed.path)
        body = _read_body(h)
        with self._lock:
            self.log.append(f"{method} {path}")
        kind, answer = self._route(method, path)
        with self._lock:
            self.counts[kind] += 1
            failing = self._failures.get(kind)
            status = failing.pop(0) if failing else None
        if status is not None:
            return self._send(
                h, status, {"error": f"injected {status}"}, {"Retry-After": "0"} if status == 429 else None
            )
        presigned = kind in ("read", "lfs-upload")  # reads are public here; an LFS href carries its own grant
        if not presigned and self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"error": "Invalid credentials in Authorization header"})
        if answer is None:
            return self._send(
                h, 404, {"error": f"fake hub: no route for {method} {path}"}, {"X-Error-Code": "EntryNotFound"}
            )
        answer(h, method, path, body, parsed.query)

    def _route(self, method: str, path: str) -> tuple[str, Any]:
        routes: list[tuple[str, str, str, Any]] = [
            ("POST", r"/api/repos/create", "create", self._create),
            (
                "POST",
                r"/api/validate-yaml",
                "validate",
                lambda h, *a: self._send(h, 200, {"errors": [], "warnings": []}),
            ),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>.+)", "preupload", self._preupload),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>.+)", "commit", self._commit),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/branch/(?P<rev>.+)", "branch", self._branch),
            ("POST", r"/datasets/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", "lfs-batch", self._lfs_batch),
            ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs-upload", self._lfs_upload),
            ("GET", r"/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", "read", self._info),
            ("GET", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", "read", self._tree),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)", "read", self._paths_info),
            ("GET|HEAD", r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", "read", self._resolve),
        ]
        for methods, pattern, kind, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method in methods.split("|"):
                return kind, lambda h, m, p, b, q, handler=handler, groups=match.groupdict(): handler(h, b, q, **groups)
        return "unknown", None

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        head: bool = False,
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(data)

    # -------------------------------------------------------------------------------------- writing

    def _create(self, h: BaseHTTPRequestHandler, body: bytes, query: str) -> None:
        asked = json.loads(body)
        repo_id = (
            f"{asked.get('organization') or 'user'}/{asked['name']}" if "/" not in asked["name"] else asked["name"]
        )
        with self._lock:
            if repo_id in self.repos:
                return self._send(
                    h, 409, {"error": "You already created this dataset repo", "url": f"{self.url}/datasets/{repo_id}"}
                )
            empty = hashlib.sha1(repo_id.encode()).hexdigest()
            self.repos[repo_id] = {
                "private": asked.get("visibility") == "private" or bool(asked.get("private")),
                "branches": {"main": empty},
                "trees": {empty: {}},
            }
        self._send(h, 200, {"url": f"{self.url}/datasets/{repo_id}", "name": repo_id, "id": repo_id})

    def _branch(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str) -> None:
        with self._lock:
            branches = self.repos[repo]["branches"]
            if rev in branches:
                return self._send(h, 409, {"error": "Reference already exists"})
            branches[rev] = branches["main"]
        self._send(h, 200, {})

    def _tree_of(self, repo: str, rev: str) -> dict[str, dict[str, Any]] | None:
        info = self.repos.get(repo)
        if info is None:
            return None
        sha = info["branches"].get(rev, rev)
        return info["trees"].get(sha)

    def _preupload(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str) -> None:
        tree = self._tree_of(repo, rev) or {}
        answer = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES)
            known = tree.get(f["path"])
            oid = (known["lfs"] if lfs else git_sha1(known["data"])) if known else None
            if known and lfs != bool(known["lfs"]):
                oid = None
            answer.append(
                {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send(h, 200, {"files": answer})

    def _lfs_batch(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str) -> None:
        objects = []
        for o in json.loads(body)["objects"]:
            entry = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.lfs:  # stored objects get no action: the client does not send them again
                entry["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}", "header": {}}}
            objects.append(entry)
        self._send(h, 200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_upload(self, h: BaseHTTPRequestHandler, body: bytes, query: str, oid: str) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._send(h, 400, {"error": "sha256 mismatch"})
        with self._lock:
            self.lfs[oid] = body
            self.uploaded.append(oid)
        self._send(h, 200, {})

    def _commit(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str) -> None:
        with self._lock:
            info = self.repos[repo]
            tree = dict(info["trees"][info["branches"][rev]])
            for line in body.decode().splitlines():
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "file":
                    data = (
                        base64.b64decode(value["content"])
                        if value.get("encoding") == "base64"
                        else value["content"].encode()
                    )
                    tree[value["path"]] = {"data": data, "lfs": None}
                    self.uploaded.append(value["path"])
                elif item["key"] == "lfsFile":
                    if value["oid"] not in self.lfs:
                        return self._send(h, 422, {"error": f"LFS object {value['oid']} was never uploaded"})
                    tree[value["path"]] = {"data": None, "lfs": value["oid"]}
                elif item["key"] == "deletedFile":
                    tree.pop(value["path"], None)
            sha = hashlib.sha1(
                json.dumps(sorted((p, f["lfs"] or git_sha1(f["data"])) for p, f in tree.items())).encode()
                + info["branches"][rev].encode()
            ).hexdigest()
            info["trees"][sha] = tree
            info["branches"][rev] = sha
        self._send(
            h, 200, {"commitUrl": f"{self.url}/datasets/{repo}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None}
        )

    # -------------------------------------------------------------------------------------- reading

    def _entry(self, path: str, f: dict[str, Any]) -> dict[str, Any]:
        data = self.lfs[f["lfs"]] if f["lfs"] else f["data"]
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_sha1(data)}
        if f["lfs"]:
            entry["lfs"] = {"oid": f["lfs"], "size": len(data), "pointerSize": 134}
        return entry

    def _info(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str | None = None) -> None:
        info = self.repos.get(repo)
        if info is None:
            return self._send(h, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        sha = info["branches"].get(rev or "main", rev or "main")
        tree = info["trees"].get(sha)
        if tree is None:
            return self._send(h, 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
        self._send(
            h,
            200,
            {
                "id": repo,
                "_id": repo,
                "author": repo.split("/")[0],
                "sha": sha,
                "private": info["private"],
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
                "siblings": [
                    {"rfilename": p, "size": e["size"]}
                    for p, e in ((p, self._entry(p, f)) for p, f in sorted(tree.items()))
                ],
            },
        )

    def _tree(
        self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str, sub: str | None = None
    ) -> None:
        tree = self._tree_of(repo, rev)
        if tree is None:
            return self._send(h, 404, {"error": "not found"}, {"X-Error-Code": "RevisionNotFound"})
        prefix = (sub or "").strip("/")
        recursive = "recursive=true" in query.lower() or "recursive=1" in query
        entries: dict[str, dict[str, Any]] = {}
        for path, f in sorted(tree.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            if "/" in rest and not recursive:
                folder = (prefix + "/" if prefix else "") + rest.split("/")[0]
                entries[folder] = {
                    "type": "directory",
                    "path": folder,
                    "size": 0,
                    "oid": hashlib.sha1(folder.encode()).hexdigest(),
                }
            else:
                if recursive:
                    parts = rest.split("/")[:-1]
                    for k in range(1, len(parts) + 1):
                        folder = "/".join(([prefix] if prefix else []) + parts[:k])
                        entries.setdefault(
                            folder,
                            {
                                "type": "directory",
                                "path": folder,
                                "size": 0,
                                "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            },
                        )
                entries[path] = self._entry(path, f)
        if prefix and not entries and prefix not in tree:
            return self._send(h, 404, {"error": "not found"}, {"X-Error-Code": "EntryNotFound"})
        self._send(h, 200, list(entries.values()))

    def _paths_info(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str) -> None:
        tree = self._tree_of(repo, rev) or {}
        text = body.decode()
        asked = (
            json.loads(text)["paths"]
            if text.startswith("{")
            else [unquote(v) for k, v in (kv.split("=", 1) for kv in text.split("&") if "=" in kv) if k == "paths"]
        )
        found = []
        for p in asked:
            p = p.strip("/")
            if p in tree:
                found.append(self._entry(p, tree[p]))
            elif any(q.startswith(p + "/") for q in tree):
                found.append({"type": "directory", "path": p, "size": 0, "oid": hashlib.sha1(p.encode()).hexdigest()})
        self._send(h, 200, found)

    def _resolve(self, h: BaseHTTPRequestHandler, body: bytes, query: str, repo: str, rev: str, file: str) -> None:
        head = h.command == "HEAD"
        info = self.repos.get(repo)
        tree = self._tree_of(repo, rev)
        if tree is None or file not in tree:
            code = "RepoNotFound" if info is None else "EntryNotFound"
            return self._send(h, 404, {"error": "not found"}, {"X-Error-Code": code}, head=head)
        f = tree[file]
        data = self.lfs[f["lfs"]] if f["lfs"] else f["data"]
        sha = info["branches"].get(rev, rev)
        headers = {"ETag": f'"{f["lfs"] or git_sha1(data)}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if f["lfs"]:
            headers["X-Linked-Etag"] = f'"{f["lfs"]}"'
            headers["X-Linked-Size"] = str(len(data))
        status = 200
        ranged = h.headers.get("Range")
        if ranged and not head:
            start_s, end_s = ranged.removeprefix("bytes=").split("-")
            start = int(start_s) if start_s else max(0, len(data) - int(end_s))
            end = min(int(end_s), len(data) - 1) if (start_s and end_s) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(h, status, None, headers, raw=data, head=head)
