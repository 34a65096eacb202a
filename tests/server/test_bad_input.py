"""Bad requests get their status and an OpenAI-shaped error naming what is wrong, and the server
keeps serving; a field it does not honour is a 400 naming it, never dropped."""

from __future__ import annotations

import pytest

from tests.server.conftest import request, wait_for

HI = [{"role": "user", "content": "Say hi."}]


def _error(status: int, body: dict) -> dict:
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "\n" not in error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    return error


@pytest.mark.parametrize(
    "body, status, param, code, says",
    [
        (b'{"messages": [', 400, None, "invalid_json", "not valid JSON"),
        (b"[1, 2]", 400, None, None, "one JSON object"),
        ({"messages": "hi"}, 400, "messages", None, "valid list"),
        ({"messages": []}, 400, "messages", None, "no messages"),
        ({}, 400, "messages", None, "Field required"),
        ({"messages": HI, "max_tokens": "5"}, 400, "max_tokens", None, "valid integer"),
        ({"messages": HI, "temperature": "hot"}, 400, "temperature", None, "valid number"),
        ({"messages": HI, "stop": 5}, 400, "stop", None, "a string or a list of strings"),
        ({"messages": HI, "stream": "yes"}, 400, "stream", None, "valid boolean"),
        ({"messages": HI, "cache_prompt": "no"}, 400, "cache_prompt", None, "valid boolean"),
        ({"messages": [{"role": "function", "content": "x"}]}, 400, "messages", None, "role 'function'"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         400, "messages", None, "only text content parts"),
        ({"messages": HI, "n": 2}, 400, "n", None, "only n = 1"),
        ({"messages": HI, "seed": -5}, 400, None, None, "seed must be 0 or more"),
        ({"messages": HI, "seed": 1.5}, 400, "seed", None, "valid integer"),
        ({"messages": HI, "max_tokens": 10**9}, 400, "max_tokens", None, "more than the context of 2048"),
        ({"messages": HI, "max_tokens": 0}, 400, None, None, "at least 1"),
        ({"messages": HI, "method": "vote"}, 400, None, None, "unknown method 'vote'"),
        ({"messages": HI, "weights": [1, 2]}, 400, None, None, "bad weights"),
        ({"model": "no-such-model", "messages": HI}, 404, "model", "model_not_found", "unknown model 'no-such-model'"),
        ({"model": "/etc/hostname", "messages": HI}, 404, "model", "model_not_found", "unknown model"),
        ({"model": "qwen2.5-0.5b", "messages": HI}, 404, "model", "model_not_found", "safe-local pull qwen2.5-0.5b"),
        ({"messages": [{"role": "user", "content": "word " * 2500}]}, 400, "messages", "context_length_exceeded",
         "whose context is 2048"),
    ],
)
def test_bad_chat_requests_get_their_status_and_an_openai_error(tiny_server, body, status, param, code, says):
    got, _, reply = request(tiny_server, "POST", "/v1/chat/completions", body)
    assert got == status, reply
    error = _error(status, reply)
    assert (error["param"], error["code"]) == (param, code)
    assert says is None or says in error["message"]


def test_bad_text_completion_requests(tiny_server):
    for body, says in (({"prompt": ["a", "b"]}, "2 prompts"), ({"prompt": "  "}, "the prompt is empty"),
                       ({"prompt": 5}, "must be a string"), ({"prompt": "hi", "n": 3}, "only n = 1")):
        status, _, reply = request(tiny_server, "POST", "/v1/completions", body)
        assert status == 400 and says in _error(400, reply)["message"]


def test_routes_answer_without_the_v1_prefix_too(tiny_server):
    assert request(tiny_server, "GET", "/models")[2] == request(tiny_server, "GET", "/v1/models")[2]


def test_unknown_routes_and_methods_answer_in_the_same_shape(tiny_server):
    status, _, reply = request(tiny_server, "GET", "/v1/engines")
    assert status == 404 and "no such endpoint" in _error(404, reply)["message"]
    status, _, reply = request(tiny_server, "GET", "/v1/chat/completions")
    assert status == 405 and _error(405, reply)


@pytest.mark.parametrize("field, value, says", [
    ("top_k", 40, "use min_p"), ("no_such_option", [1], "not supported by safe-local"),
    ("logit_bias", {"50256": -100}, "not supported"), ("store", True, "not supported"),
    ("functions", [{"name": "f"}], "use tools"), ("modalities", ["text", "audio"], "not supported"),
    ("suffix", "x", "only at their end"),
])
def test_a_field_the_server_does_not_honour_is_a_400_naming_it(tiny_server, field, value, says):
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions", {"messages": HI, field: value})
    assert status == 400, reply
    error = _error(400, reply)
    assert (error["param"], error["code"]) == (field, "unsupported_parameter") and says in error["message"]
    assert error["message"].startswith(f"{field}: ")


def test_fields_that_change_nothing_are_accepted_and_text_parts_are_text(tiny_server):
    plain = request(tiny_server, "POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 4})
    extra = {"user": "me", "logit_bias": {}, "parallel_tool_calls": False, "metadata": {"a": "b"}, "store": False,
             "service_tier": "auto", "modalities": ["text"], "response_format": {"type": "text"}}
    parts = [{"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hi."}]}]
    other = request(tiny_server, "POST", "/v1/chat/completions", {"messages": parts, "max_tokens": 4, **extra})
    assert plain[0] == other[0] == 200
    assert other[2]["choices"][0]["message"]["content"] == plain[2]["choices"][0]["message"]["content"]


def test_a_developer_message_is_a_system_message(tiny_server):
    replies = [request(tiny_server, "POST", "/v1/chat/completions",
                       {"messages": [{"role": role, "content": "Answer in French."}, *HI], "max_tokens": 4})
               for role in ("system", "developer")]
    assert replies[0][0] == replies[1][0] == 200
    assert replies[0][2]["choices"][0]["message"]["content"] == replies[1][2]["choices"][0]["message"]["content"]
    assert replies[0][2]["usage"] == replies[1][2]["usage"]


def test_the_server_keeps_serving_after_bad_requests(tiny_server):
    for body in (b"{", {"messages": []}, {"messages": [{"role": "user", "content": "word " * 2500}]}):
        assert request(tiny_server, "POST", "/v1/chat/completions", body)[0] == 400
    # The turn of the request refused for its length ends with its worker thread, a moment after the 400.
    wait_for(lambda: not tiny_server.health()["generating"], 5, "the refused request's turn ending")
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions", {"messages": HI, "max_tokens": 3})
    assert status == 200 and reply["usage"]["completion_tokens"] == 3


def test_an_unsupported_field_with_an_odd_name_is_still_one_line(tiny_server):
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions", {"messages": HI, "a\nb" * 40: 1})
    assert status == 400 and _error(400, reply)["code"] == "unsupported_parameter"
