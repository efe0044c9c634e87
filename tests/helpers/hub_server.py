"""A small Hugging Face hub on 127.0.0.1 for tests: the endpoints the real ``huggingface_hub`` uses.

Repositories are folders ``<root>/<owner>/<name>/…`` in the real layout (``model_index.json``,
``unet/``, ``scheduler/``…). Served, as huggingface.co serves them:

* ``GET /api/models/<id>[/revision/<rev>]`` (model info; ``?blobs=true`` adds sizes and LFS info),
* ``GET /api/models/<id>/tree/<rev>`` (the recursive file listing ``snapshot_download`` reads),
* ``HEAD``/``GET /<id>/resolve/<rev>/<file>`` with ``X-Repo-Commit``, ``ETag`` (git blob SHA-1, or
  the SHA-256 with ``X-Linked-Etag``/``X-Linked-Size`` for weight files, which are LFS on the hub)
  and ``Range`` requests answered ``206`` with ``Content-Range``.

Every request is recorded (``server.requests``) so a test can assert a URL was never asked for.
``throttle`` (bytes per second) slows weight downloads so that a cancel lands mid-file;
``drop_after`` closes the connection once after that many bytes of a weight file; ``hold_after``
pauses a weight file there until ``release`` is set (a download caught in the middle, whatever the
machine's speed) and sets ``holding``. Make ``hold_after`` a multiple of the client's read chunk
(``core.model_library.CHUNK_BYTES``): a client that hands over bytes in whole chunks writes
everything sent before the hold only then, instead of waiting for its read timeout.

Run it for a manual check: ``python -m tests.helpers.hub_server ROOT [--port P] [--throttle B]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class HubState:
    root: Path
    throttle: float | None = None  # bytes per second for LFS files
    drop_after: int | None = None  # close the connection once after this many bytes of an LFS file
    hold_after: int | None = None  # pause an LFS file after this many bytes until ``release`` is set
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)  # set while a hold is under way
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _repo_files(repo: Path) -> dict[str, Path]:
    return {p.relative_to(repo).as_posix(): p for p in sorted(repo.rglob("*")) if p.is_file()}


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _commit(repo: Path) -> str:
    digest = hashlib.sha1()
    for name, path in _repo_files(repo).items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _is_lfs(name: str) -> bool:
    return name.endswith(LFS_SUFFIXES)


def _file_entry(name: str, path: Path) -> dict:
    data = path.read_bytes()
    entry = {"type": "file", "path": name, "size": len(data), "oid": _git_sha1(data)}
    if _is_lfs(name):
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return entry


class _Handler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:  # quiet
        pass

    # ---- routing ------------------------------------------------------------------------------
    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        with self.state.lock:
            self.state.requests.append(Request(self.command, path, self.headers.get("Range")))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = "/".join(parts[2:4])
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                return self._model_info(repo_id, "blobs" in parse_qs(url.query))
            if rest[0] == "tree":
                return self._tree(repo_id)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve("/".join(parts[:2]), "/".join(parts[4:]), head)
        self._error(404, "EntryNotFound", "not found")

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)

    # ---- answers ------------------------------------------------------------------------------
    def _repo(self, repo_id: str) -> Path | None:
        repo = self.state.root / repo_id
        return repo if repo.is_dir() else None

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _model_info(self, repo_id: str, blobs: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        siblings = []
        for name, path in _repo_files(repo).items():
            sibling: dict = {"rfilename": name}
            if blobs:
                entry = _file_entry(name, path)
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    sibling["lfs"] = {
                        "sha256": entry["lfs"]["oid"],
                        "size": entry["size"],
                        "pointerSize": 134,
                    }
            siblings.append(sibling)
        self._json({"id": repo_id, "modelId": repo_id, "sha": _commit(repo), "private": False,
                    "siblings": siblings, "tags": [], "library_name": "diffusers"})  # fmt: skip

    def _tree(self, repo_id: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        entries = [_file_entry(name, path) for name, path in _repo_files(repo).items()]
        folders = sorted({n.rsplit("/", 1)[0] for n in _repo_files(repo) if "/" in n})
        entries += [{"type": "directory", "path": f, "size": 0, "oid": "0" * 40} for f in folders]
        self._json(entries)

    def _resolve(self, repo_id: str, filename: str, head: bool) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        path = repo / filename
        if not path.is_file():
            return self._error(404, "EntryNotFound", f"{filename} does not exist")
        data = path.read_bytes()
        start = 0
        status = 200
        requested = self.headers.get("Range")
        if requested and requested.startswith("bytes="):
            first = requested[6:].split("-")[0]
            start = int(first) if first else 0
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("X-Repo-Commit", _commit(repo))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if _is_lfs(filename):
            sha = hashlib.sha256(data).hexdigest()
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
        else:
            self.send_header("ETag", f'"{_git_sha1(data)}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not head:
            try:
                self._send_body(body, _is_lfs(filename))
            except (BrokenPipeError, ConnectionResetError):  # the client cancelled
                self.close_connection = True

    def _send_body(self, body: bytes, lfs: bool) -> None:
        piece = 16 * 1024
        sent = 0
        for offset in range(0, len(body), piece):
            chunk = body[offset : offset + piece]
            drop = self.state.drop_after
            if lfs and drop is not None and sent + len(chunk) > drop:
                self.state.drop_after = None  # once
                self.wfile.write(chunk[: max(0, drop - sent)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            hold = self.state.hold_after
            if lfs and hold is not None and sent < hold <= sent + len(chunk):
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                self.state.holding.set()
                self.state.release.wait(60)
                continue
            self.wfile.write(chunk)
            sent += len(chunk)
            if lfs and self.state.throttle:
                time.sleep(len(chunk) / self.state.throttle)


class LoopbackHub:
    """A hub server on a free loopback port, in a daemon thread.

    Attributes:
        url: ``http://127.0.0.1:PORT`` (what ``HF_ENDPOINT`` is set to).
        state: the served root, the options and the recorded requests.
    """

    def __init__(self, root: Path, port: int = 0, throttle: float | None = None) -> None:
        self.state = HubState(Path(root), throttle=throttle)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackHub:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def requests(self) -> list[Request]:
        with self.state.lock:
            return list(self.state.requests)

    def fetched(self, repo_id: str, filename: str) -> list[Request]:
        """The GET requests of one file (HEAD requests excluded)."""
        wanted = f"/{repo_id}/resolve/"
        return [r for r in self.requests if r.method == "GET" and r.path.startswith(wanted)
                and r.path.endswith("/" + filename)]  # fmt: skip


def point_client_at(monkeypatch: object, hub: LoopbackHub, cache: Path) -> None:
    """Point the real huggingface_hub client (and the studio) at ``hub``, with ``cache`` as its cache.

    ``HF_ENDPOINT``/``HF_HUB_CACHE`` are what a person sets; the studio reads them at call time.
    huggingface_hub's own copies (read at import) are set too, for its calls the studio does not make.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))  # type: ignore[attr-defined]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # type: ignore[attr-defined]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # type: ignore[attr-defined]
    # 16 kB chunks instead of 10 MB, so a 1 MB test model arrives in many progress steps.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle", type=float, default=None, help="bytes per second for weights")
    args = parser.parse_args()
    with LoopbackHub(args.root, args.port, args.throttle) as hub:
        print(hub.url, flush=True)
        hub.thread.join()


if __name__ == "__main__":
    main()
