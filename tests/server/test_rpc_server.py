"""`safe-local serve` with a model on a real llama.cpp RPC server on 127.0.0.1 that goes away."""

from __future__ import annotations

from safe_local.backend.rpc import LoopbackServer
from tests.server.conftest import request, start_server

QUESTION = {"messages": [{"role": "user", "content": "What is 6 * 7?"}], "max_tokens": 8}


def test_a_placed_model_serves_and_a_lost_server_is_a_503_then_the_server_keeps_serving(tmp_path):
    rpc = LoopbackServer()
    server = start_server(tmp_path, "--models", f"qwen2.5-coder-0.5b,smollm2-135m@{rpc.endpoint}", "--ctx", "2048")
    try:
        status, _, models = request(server, "GET", "/v1/models")
        ids = [m["id"] for m in models["data"]]
        assert "qwen2.5-coder-0.5b,smollm2-135m" in ids and not any("@" in i for i in ids)  # no server addresses
        status, _, reply = request(server, "POST", "/v1/chat/completions", QUESTION)
        assert status == 200 and reply["choices"][0]["message"]["content"]
        rpc.stop()
        status, _, error = request(server, "POST", "/v1/chat/completions", QUESTION)
        assert status == 503 and f"smollm2-135m on RPC server {rpc.endpoint} is lost" in error["error"]["message"]
        status, _, error = request(server, "POST", "/v1/chat/completions", QUESTION)  # loads again: still down
        assert status == 400 and error["error"]["message"].startswith(f"RPC server {rpc.endpoint} is not reachable")
        assert request(server, "GET", "/health")[0] == 200
        assert "Traceback" not in server.log.read_text()
    finally:
        rpc.stop()
        assert server.stop() == 0, server.log.read_text()
