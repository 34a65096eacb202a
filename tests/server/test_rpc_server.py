"""`safe-local serve` with a model on a real llama.cpp RPC server on 127.0.0.1 that goes away:
it serves, a lost server is a 503 naming the model, and no response of any endpoint, before or
after, with or without the key, says where the model runs."""

from __future__ import annotations

import http.client
import json

from safe_local.backend.rpc import LoopbackServer
from tests.server.conftest import Server, request, start_server

KEY = "rpc-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = {"messages": [{"role": "user", "content": "What is 6 * 7?"}], "max_tokens": 8}


def _raw(server: Server, method: str, path: str, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One request; its status and everything a client receives (status line, headers, body) as text."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                 headers={"Content-Type": "application/json", "Origin": "http://localhost:3000", **(headers or {})})
    response = conn.getresponse()
    text = f"{response.status} {response.reason}\n{response.headers}\n{response.read().decode()}"
    conn.close()
    return response.status, text


def _every_endpoint(server: Server) -> list[tuple[int, str]]:
    seen = []
    for headers in ({}, {"Authorization": "Bearer wrong"}, AUTH):
        seen += [
            _raw(server, "GET", "/health", headers=headers),
            _raw(server, "GET", "/v1/models", headers=headers),
            _raw(server, "GET", "/models", headers=headers),
            _raw(server, "GET", "/openapi.json", headers=headers),
            _raw(server, "GET", "/v1/nowhere", headers=headers),
            _raw(server, "POST", "/v1/chat/completions", QUESTION, headers),
            _raw(server, "POST", "/v1/chat/completions", {**QUESTION, "stream": True}, headers),
            _raw(server, "POST", "/v1/completions", {"prompt": "6 * 7 =", "max_tokens": 4}, headers),
            _raw(server, "POST", "/v1/chat/completions", {**QUESTION, "model": "smollm2-135m@192.0.2.1:1"}, headers),
            _raw(server, "POST", "/v1/chat/completions", {**QUESTION, "max_tokens": 10**6}, headers),
            _raw(server, "GET", "/api/tags", headers=headers),  # ollama's API: the same rule
            _raw(server, "GET", "/api/ps", headers=headers),
            _raw(server, "POST", "/api/show", {"model": "qwen2.5-coder-0.5b,smollm2-135m"}, headers),
            _raw(server, "POST", "/api/chat", {"messages": QUESTION["messages"], "options": {"num_predict": 4}}, headers),
            _raw(server, "POST", "/api/generate", {"prompt": "6 * 7 =", "options": {"num_predict": 4}}, headers),
        ]
    return seen


def test_a_placed_model_serves_a_lost_server_is_a_503_and_no_response_says_where_it_runs(tmp_path):
    rpc = LoopbackServer()
    server = start_server(tmp_path, "--models", f"qwen2.5-coder-0.5b,smollm2-135m@{rpc.endpoint}", "--ctx", "2048",
                          "--api-key", KEY)
    try:
        responses = _every_endpoint(server)
        statuses = [status for status, _ in responses]
        assert statuses.count(200) == 14 and statuses.count(401) == 28  # without the right key: /health only
        status, _, models = request(server, "GET", "/v1/models", headers=AUTH)
        entry = next(m for m in models["data"] if m["id"] == "qwen2.5-coder-0.5b,smollm2-135m")
        assert entry["models"] == ["qwen2.5-coder-0.5b", "smollm2-135m"]
        assert request(server, "GET", "/health")[2] == {"status": "ok"}  # no details without the key
        assert server.health()["loaded"] == "qwen2.5-coder-0.5b,smollm2-135m"

        rpc.stop()
        status, _, error = request(server, "POST", "/v1/chat/completions", QUESTION, AUTH)
        assert status == 503 and error["error"]["code"] == "model_unreachable"
        assert error["error"]["message"].startswith("a remote model is unreachable: smollm2-135m")
        status, _, error = request(server, "POST", "/v1/chat/completions", QUESTION, AUTH)  # loads again: still down
        assert status == 503 and error["error"]["message"].startswith("a remote model is unreachable: smollm2-135m")
        responses += _every_endpoint(server)
        assert [status for status, _ in responses[-45:]].count(503) == 5  # chat, stream, text, ollama's two, with the key
        assert request(server, "GET", "/health", headers=AUTH)[0] == 200

        for _status, text in responses:
            assert rpc.endpoint not in text and "@127.0.0.1" not in text, text
        log = server.log.read_text()
        assert rpc.endpoint in log and "Traceback" not in log  # the operator is told where
    finally:
        rpc.stop()
        assert server.stop() == 0, server.log.read_text()
