"""A stand-in for the Hugging Face Hub on 127.0.0.1, serving real GGUF files.

It answers the requests huggingface_hub makes, with the headers it reads:
- HEAD/GET ``/{repo}/resolve/{rev}/{file}``: ETag, X-Repo-Commit, X-Linked-Etag,
  X-Linked-Size, Content-Length, Accept-Ranges; GET honours ``Range: bytes=N-`` with 206 and
  Content-Range; a missing repo or file answers 404 with X-Error-Code like the Hub;
- GET ``/api/models/{repo}/tree/{rev}`` (list_repo_files) and
  POST ``/api/models/{repo}/paths-info/{rev}`` (get_paths_info, with the LFS sha256 and size).
Faults a test can switch on per file: drop the connection after N bytes of the next GET and
answer 503 to the GETs after it (an outage), serve bytes that do not match the advertised
sha256, or send slowly. Every request is recorded (method, path, headers) for the tests to
inspect. ``send_file`` and ``StandInServer`` are shared with the package index stand-in
(index_server.py).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    path: Path  # the real bytes
    sha256: str = ""
    size: int = 0
    drop_after: int | None = None  # next GET: send this many bytes, then cut the connection
    outage: bool = False  # GETs answer 503 (set after a drop)
    corrupt: bool = False  # serve bytes that differ from the advertised sha256
    slow: bool = False  # send 1 MB every 50 ms, so a test can interrupt a download midway

    def __post_init__(self) -> None:
        data = self.path.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.size = len(data)

    def body(self) -> bytes:
        data = self.path.read_bytes()
        if self.corrupt:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return data


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeHub:
    repos: dict[str, dict[str, HostedFile]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def add(self, repo: str, file: str, source: Path) -> HostedFile:
        hosted = HostedFile(source)
        self.repos.setdefault(repo, {})[file] = hosted
        return hosted

    def gets(self, file: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith("/" + file)]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _record(self) -> str:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(Request(self.command, path, dict(self.headers)))
            return path

        def _error(self, status: int, code: str | None = None) -> None:
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _json(self, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _lookup(self, repo: str, file: str | None) -> HostedFile | None | bool:
            if repo not in hub.repos:
                self._error(404, "RepoNotFound")
                return False
            if file is not None and file not in hub.repos[repo]:
                self._error(404, "EntryNotFound")
                return False
            return hub.repos[repo].get(file) if file else None

        def _resolve(self, path: str, send_body: bool) -> None:
            segments = path.lstrip("/").split("/", 4)
            if len(segments) < 5 or segments[2] != "resolve":
                # Other endpoints huggingface_hub calls on its own (its agent-harness registry,
                # say): a plain 404, as for anything the stand-in does not serve.
                self._error(404)
                return
            owner, name, _, _rev, file = segments
            hosted = self._lookup(f"{owner}/{name}", file)
            if hosted is False:
                return
            assert isinstance(hosted, HostedFile)
            etag = f'"{hosted.sha256}"'
            send_file(self, hosted, send_body, {"ETag": etag, "X-Linked-Etag": etag, "X-Repo-Commit": COMMIT,
                                                "X-Linked-Size": str(hosted.size)})

        def _tree(self, repo: str) -> list[dict]:
            return [
                {"type": "file", "path": name, "size": f.size, "oid": f.sha256[:40],
                 "lfs": {"oid": f.sha256, "size": f.size, "pointerSize": 134}}
                for name, f in hub.repos[repo].items()
            ]

        def do_HEAD(self) -> None:
            self._resolve(self._record(), send_body=False)

        def do_GET(self) -> None:
            path = self._record()
            if path.startswith("/api/models/"):
                owner, name = path[len("/api/models/"):].split("/")[:2]
                if self._lookup(f"{owner}/{name}", None) is not False:
                    self._json(self._tree(f"{owner}/{name}"))
                return
            self._resolve(path, send_body=True)

        def do_POST(self) -> None:
            path = self._record()
            length = int(self.headers.get("Content-Length", 0))
            form = self.rfile.read(length).decode()
            owner, name = path[len("/api/models/"):].split("/")[:2]
            if self._lookup(f"{owner}/{name}", None) is False:
                return
            wanted = _paths_from_body(form, self.headers.get("Content-Type", ""))
            self._json([e for e in self._tree(f"{owner}/{name}") if e["path"] in wanted])

    return Handler


def send_file(handler: BaseHTTPRequestHandler, hosted: HostedFile, send_body: bool, headers: dict[str, str]) -> None:
    """Answer a HEAD or GET for a hosted file: ``Range: bytes=N-`` gives 206, faults apply to GETs."""
    if send_body and hosted.outage:
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    start = 0
    ranged = handler.headers.get("Range")
    if send_body and ranged and ranged.startswith("bytes="):
        start = int(ranged[len("bytes="):].split("-")[0])
    handler.send_response(206 if start else 200)
    for key, value in {**headers, "Accept-Ranges": "bytes", "Content-Length": str(hosted.size - start)}.items():
        handler.send_header(key, value)
    if start:
        handler.send_header("Content-Range", f"bytes {start}-{hosted.size - 1}/{hosted.size}")
    handler.end_headers()
    if not send_body:
        return
    body = hosted.body()[start:]
    if hosted.drop_after is not None:
        handler.wfile.write(body[:hosted.drop_after])
        handler.wfile.flush()
        hosted.drop_after, hosted.outage = None, True
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)
        return
    step = 1 << 20 if hosted.slow else len(body) or 1
    for offset in range(0, len(body), step):
        handler.wfile.write(body[offset:offset + step])
        if hosted.slow:
            time.sleep(0.05)


def _paths_from_body(body: str, content_type: str) -> set[str]:
    if "json" in content_type:
        return set(json.loads(body).get("paths", []))
    return set(parse_qs(body).get("paths", []))


class StandInServer:
    """Runs a fake (anything with a ``url`` to set) on an ephemeral loopback port until stopped."""

    def __init__(self, fake: Any, handler: Callable[[Any], type[BaseHTTPRequestHandler]]) -> None:
        self.fake = fake
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
        self.server.daemon_threads = True
        self.fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class HubServer(StandInServer):
    """Runs a FakeHub on an ephemeral loopback port until stopped."""

    def __init__(self) -> None:
        super().__init__(FakeHub(), _handler)
