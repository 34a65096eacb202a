"""A stand-in for PyPI's simple API on 127.0.0.1, serving real wheel files.

It answers what safe_local.store.pypi asks for:
- GET ``/simple/{project}/``: the project page in the JSON simple API (PEP 691, with sizes as in
  PEP 700), each file with a relative URL and its sha256 (``stated_sha256`` overrides the
  stated hash); an unknown project answers 404; ``html_only`` answers a PEP 503 HTML page
  instead, as an index without the JSON API does;
- GET ``/files/{filename}``: the file, with Range and the faults of hub_server.HostedFile.
Every request is recorded (method, path, headers) for the tests to inspect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.store.hub_server import HostedFile, Request, StandInServer, send_file

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class FakeIndex:
    projects: dict[str, dict[str, HostedFile]] = field(default_factory=dict)  # project -> file name -> file
    stated_sha256: dict[str, str] = field(default_factory=dict)  # file name -> the hash the page states
    requests: list[Request] = field(default_factory=list)
    html_only: bool = False
    url: str = ""

    @property
    def simple(self) -> str:
        """The index URL to give as PIP_INDEX_URL."""
        return f"{self.url}/simple"

    def add(self, project: str, source: Path, filename: str | None = None) -> HostedFile:
        hosted = HostedFile(source)
        self.projects.setdefault(project, {})[filename or source.name] = hosted
        return hosted

    def gets(self, filename: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path == f"/files/{filename}"]


def _handler(index: FakeIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _page(self, project: str) -> None:
            files = index.projects.get(project)
            if files is None:
                self._answer(404, "text/plain", b"not found")
                return
            if index.html_only:
                links = "".join(f'<a href="../../files/{n}#sha256={f.sha256}">{n}</a>' for n, f in files.items())
                self._answer(200, "text/html", f"<html><body>{links}</body></html>".encode())
                return
            page = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": [{"filename": n, "url": f"../../files/{n}", "size": f.size,
                           "hashes": {"sha256": index.stated_sha256.get(n, f.sha256)}} for n, f in files.items()],
            }
            self._answer(200, SIMPLE_JSON, json.dumps(page).encode())

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            index.requests.append(Request(self.command, path, dict(self.headers)))
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "simple":
                self._page(parts[1])
                return
            hosted = next((f[parts[1]] for f in index.projects.values() if len(parts) == 2 and parts[1] in f), None)
            if parts[0] != "files" or hosted is None:
                self._answer(404, "text/plain", b"not found")
                return
            send_file(self, hosted, True, {"Content-Type": "application/octet-stream"})

    return Handler


class IndexServer(StandInServer):
    """Runs a FakeIndex on an ephemeral loopback port until stopped."""

    def __init__(self) -> None:
        super().__init__(FakeIndex(), _handler)
