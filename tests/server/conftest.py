"""Real `safe-local serve` processes on 127.0.0.1 (a free port each) for the server tests.

`tiny_server` serves the tiny preset at a 2048-token context (as the session's `trio` fixture
is loaded, so replies can be compared token for token) and is started once for the whole
package; `start_server` starts others with their own flags. Nothing is faked: real models,
real sockets, real clients.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest

STARTED = re.compile(r"serving (\S+) \(.*\) at (http://127\.0\.0\.1:(\d+))/v1")


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    port: int
    log: Path
    key: str | None = None  # the server's --api-key; health() sends it, for the details

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, api_key: str = "unused", **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=300, **kwargs)

    def health(self) -> dict[str, Any]:
        return request(self, "GET", "/health", headers={"Authorization": f"Bearer {self.key}"} if self.key else None)[2]

    def stop(self, timeout: float = 60) -> int:
        """Ctrl+C, as a user stops it; the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


def request(server: Server, method: str, path: str, body: bytes | dict | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One raw HTTP request (any bytes as the body): status, headers, parsed JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), json.loads(payload)


class RawStream:
    """A streaming request on its own socket, read event by event, that can hang up at any point."""

    def __init__(self, server: Server, body: dict, headers: dict[str, str] | None = None,
                 path: str = "/v1/chat/completions"):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        self.conn.request("POST", path, body=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json", **(headers or {})})
        self.sock = self.conn.sock  # kept: http.client lets go of it once a response arrives
        self.response: http.client.HTTPResponse | None = None

    def events(self) -> Iterator[Any]:
        """Each `data:` payload, parsed (the final "[DONE]" as that string)."""
        self.response = self.response or self.conn.getresponse()
        assert self.response.status == 200, self.response.read()
        for line in self.response:
            if line.startswith(b"data: "):
                data = line[6:].strip().decode()
                yield data if data == "[DONE]" else json.loads(data)
                if data == "[DONE]":
                    return

    def hang_up(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until condition() held; fails the test after timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


def start_server(log_dir: Path, *args: str, cwd: Path | None = None) -> Server:
    """`safe-local serve ARGS` on a free port, its stderr in log_dir/server.log, run from `cwd`."""
    log = log_dir / "server.log"
    # An empty Hub cache: what is "downloaded" does not depend on this machine's other models.
    env = {**os.environ, "HF_HUB_CACHE": str(log_dir / "hf-hub")}
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "safe_local", "serve", "--port", "0", *args],
                                   stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
    key = args[args.index("--api-key") + 1] if "--api-key" in args else None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        match = STARTED.search(log.read_text())
        if match:
            return Server(process, match[2], int(match[3]), log, key)
        if process.poll() is not None:
            pytest.fail(f"safe-local serve exited with {process.returncode}: {log.read_text()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"safe-local serve did not start: {log.read_text()}")


@pytest.fixture(scope="package")
def tiny_server(tmp_path_factory, offline_model_paths) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("tiny-server"), "--preset", "tiny", "--ctx", "2048")
    yield server
    assert server.stop() == 0, server.log.read_text()


@pytest.fixture(scope="package")
def client(tiny_server) -> openai.OpenAI:
    return tiny_server.client()
