"""Who gets in, through a real server: model ids that are not listed (path-shaped or not) are a
404 and load nothing, /health tells details only with the key, browsers get in only from the
origins named with --cors-origin, an empty key is refused at start, and a JSON null is an
absent field."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys

import pytest

from tests.server.conftest import request, start_server
from tests.server.test_model_ids import TRAVERSALS

KEY = "access-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HI = [{"role": "user", "content": "Say hi."}]
ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, offline_model_paths):
    """SmolLM2 alone, with a key and one browser origin, run from a directory full of GGUF links."""
    root = tmp_path_factory.mktemp("guarded")
    cwd = root / "server"
    real = offline_model_paths["smollm2-135m"]
    for link in (cwd / "evil.gguf", root / "elsewhere" / "evil.gguf", cwd / "owner" / "repo" / "evil.gguf"):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
    (cwd / "sub").mkdir()
    server = start_server(root, "--models", "smollm2-135m", "--ctx", "512", "--api-key", KEY,
                          "--cors-origin", ORIGIN, "--cors-origin", "https://app.example", cwd=cwd)
    yield server
    assert server.stop() == 0, server.log.read_text()


def test_ids_that_are_not_listed_are_404_through_the_server_and_load_nothing(guarded, offline_model_paths):
    files = [str(p) for p in offline_model_paths.values()]
    for model_id in [t for t in TRAVERSALS if t] + ["qwen2.5-coder-0.5b,../elsewhere/evil.gguf"]:
        status, headers, reply = request(guarded, "POST", "/v1/chat/completions",
                                         {"model": model_id, "messages": HI, "max_tokens": 2}, AUTH)
        assert status == 404, (model_id, reply)
        assert not any(f in str(reply) or f in str(headers) for f in files)  # no model's file path
        error = reply["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["code"] == "model_not_found"
        assert guarded.health()["loaded"] == "smollm2-135m", model_id
    status, _, reply = request(guarded, "POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 2}, AUTH)
    assert status == 200 and reply["model"] == "smollm2-135m" and reply["usage"]["completion_tokens"] == 2
    assert "evil" not in guarded.log.read_text()


def test_health_says_only_ok_without_the_key_and_the_details_with_it(guarded):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        assert request(guarded, "GET", "/health", headers=headers)[2] == {"status": "ok"}
    status, _, details = request(guarded, "GET", "/health", headers=AUTH)
    assert status == 200 and details["status"] == "ok" and details["loaded"] == "smollm2-135m"
    assert {"model", "generating", "queued", "queue_limit"} <= set(details)


def test_browsers_get_in_only_from_the_named_origins_and_still_need_the_key(guarded):
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    status, headers, _ = _options(guarded, preflight)
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN  # a preflight carries no key
    status, headers, _ = _options(guarded, {**preflight, "Origin": "http://evil.example"})
    assert status == 400 and "access-control-allow-origin" not in headers
    status, headers, reply = request(guarded, "GET", "/v1/models", headers={"Origin": ORIGIN})
    assert status == 401 and headers["access-control-allow-origin"] == ORIGIN  # the page can read why
    status, headers, reply = request(guarded, "GET", "/v1/models", headers={"Origin": ORIGIN, **AUTH})
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN
    status, headers, reply = request(guarded, "GET", "/v1/models", headers={"Origin": "http://evil.example", **AUTH})
    assert status == 200 and "access-control-allow-origin" not in headers


def _options(server, headers):
    """A CORS preflight (no body, no JSON): status, lower-case headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("OPTIONS", "/v1/chat/completions", headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_a_request_with_every_optional_field_null_is_a_plain_request(guarded):
    nulls = {k: None for k in ("model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
                               "stream", "stream_options", "n", "cache_prompt", "presence_penalty",
                               "frequency_penalty", "user", "method", "weights", "min_p", "repeat_penalty")}
    plain = request(guarded, "POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 6}, AUTH)
    nulled = request(guarded, "POST", "/v1/chat/completions", {**nulls, "messages": HI, "max_tokens": 6}, AUTH)
    assert plain[0] == nulled[0] == 200, nulled
    assert nulled[2]["choices"][0]["message"]["content"] == plain[2]["choices"][0]["message"]["content"]
    text = request(guarded, "POST", "/v1/completions",
                   {**nulls, "prompt": "Say hi.", "max_tokens": 3, "stream_options": {"include_usage": None}}, AUTH)
    assert text[0] == 200 and text[2]["usage"]["completion_tokens"] == 3
    status, _, reply = request(guarded, "POST", "/v1/chat/completions", {"messages": None}, AUTH)
    assert status == 400 and reply["error"]["param"] == "messages"


@pytest.mark.parametrize("args, env", [(["--api-key", ""], {}), (["--api-key", "  "], {}), ([], {"SAFE_LOCAL_API_KEY": ""})])
def test_an_empty_key_is_an_error_at_start(args, env):
    done = subprocess.run([sys.executable, "-m", "safe_local", "serve", "--port", "0", "--models", "smollm2-135m", *args],
                          capture_output=True, text=True, timeout=120, env={**_env(), **env})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "the API key is empty" in done.stderr, done.stderr


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SAFE_LOCAL_API_KEY"}
