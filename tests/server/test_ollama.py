"""ollama's API on a real server, driven by real clients that speak only ollama's protocol: the
official `ollama` Python client and LiteLLM's ollama providers. Replies are the engine's own for
the same options (greedy, so token for token), streamed or not; errors are ollama's shape."""

from __future__ import annotations

import json

import jsonschema
import litellm
import ollama
import pytest

from safe_local.api import config_for
from safe_local.backend.chat_template import RAW
from safe_local.events import GenerationResult
from safe_local.store import load_catalog
from tests.real_models import NAMES
from tests.server.conftest import request

PROMPT = "What is the capital of France? Answer in one sentence."
MESSAGES = [{"role": "system", "content": "You are brief."}, {"role": "user", "content": PROMPT}]
TINY = load_catalog().presets["tiny"].generation_options()
GREEDY = {"num_predict": 12, "temperature": 0}


def engine(trio, messages, **options) -> GenerationResult:
    return trio.generate(messages, config_for(len(NAMES), TINY, options))


@pytest.fixture(scope="module")
def client(tiny_server) -> ollama.Client:
    return ollama.Client(host=tiny_server.url, timeout=300)


def test_the_listing_names_presets_and_models_as_ollama_clients_expect(client, tiny_server):
    listed = {m.model: m for m in client.list().models}
    assert {"tiny:latest", *(f"{name}:latest" for name in NAMES)} <= set(listed)
    tiny = listed["tiny:latest"]
    assert tiny.size > 0 and len(tiny.digest) == 64 and tiny.details.format == "gguf"
    assert tiny.details.families == ["qwen2.5", "gemma3", "smollm2"] and tiny.details.family == "qwen2.5"
    assert listed[f"{NAMES[0]}:latest"].size < tiny.size
    raw = json.dumps(request(tiny_server, "GET", "/api/tags")[2])
    assert "/" + "models" not in raw and ".gguf" not in raw and "@" not in raw  # no paths, no placements
    shown = client.show("tiny")
    assert shown.modelinfo["qwen2.5.context_length"] == 2048 and "tools" in shown.capabilities
    assert shown.modelinfo["safe_local.models"] == list(NAMES) and "method safe" in shown.parameters
    assert client.show("tiny:latest").modelfile == shown.modelfile
    assert request(tiny_server, "GET", "/api/version")[2]["version"]


def test_chat_is_the_engines_reply_with_ollamas_counts_and_durations(client, tiny_server, trio):
    reply = client.chat(model="tiny", messages=MESSAGES, stream=False, options=GREEDY)
    ref = engine(trio, MESSAGES, max_tokens=12)
    assert reply.message.role == "assistant" and reply.message.content == ref.text and ref.text.strip()
    assert reply.done and reply.done_reason == {"eos": "stop", "length": "length"}[ref.stop_reason]
    assert (reply.prompt_eval_count, reply.eval_count) == (ref.stats.prompt_tokens, ref.stats.tokens)
    assert reply.model == "tiny:latest" and reply.created_at.endswith("Z")
    assert reply.eval_duration > 0 and reply.prompt_eval_duration > 0
    assert reply.total_duration >= reply.prompt_eval_duration + reply.eval_duration
    body = {"model": "tiny", "messages": MESSAGES, "stream": False, "options": GREEDY}
    safe = request(tiny_server, "POST", "/api/chat", body)[2]["safe"]  # the client's model drops extensions
    assert safe["models"] == list(NAMES) and safe["tokens"] == ref.stats.tokens


def test_streamed_chat_is_the_same_reply_in_json_lines(client, trio):
    parts = list(client.chat(model="tiny:latest", messages=MESSAGES, stream=True, options=GREEDY))
    ref = engine(trio, MESSAGES, max_tokens=12)
    assert "".join(p.message.content for p in parts) == ref.text and len(parts) > 2
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].eval_count == ref.stats.tokens and parts[-1].done_reason in ("stop", "length")
    assert all(p.eval_count is None for p in parts[:-1])


def test_generate_with_a_system_prompt_and_raw_are_the_engines(client, trio):
    ref = engine(trio, MESSAGES, max_tokens=12)
    reply = client.generate(model="tiny", prompt=PROMPT, system="You are brief.", options=GREEDY)
    assert reply.response == ref.text and reply.done_reason
    streamed = list(client.generate(model="tiny", prompt=PROMPT, system="You are brief.", options=GREEDY, stream=True))
    assert "".join(p.response for p in streamed) == ref.text and streamed[-1].done
    raw = client.generate(model="tiny", prompt="The capital of France is", raw=True, options=GREEDY)
    assert raw.response == engine(trio, [{"role": RAW, "content": "The capital of France is"}], max_tokens=12).text


def test_options_are_honoured(client, trio):
    sampled = {"num_predict": 12, "temperature": 0.7, "seed": 3, "top_p": 0.9, "min_p": 0.05, "repeat_penalty": 1.1}
    reply = client.chat(model="tiny", messages=MESSAGES, options=sampled)
    ref = engine(trio, MESSAGES, max_tokens=12, temperature=0.7, seed=3, top_p=0.9, min_p=0.05, repeat_penalty=1.1)
    assert reply.message.content == ref.text
    alone = client.chat(model="tiny", messages=MESSAGES, options={**GREEDY, "method": "single"})
    assert alone.message.content == engine(trio, MESSAGES, max_tokens=12, method="single").text
    stopped = client.chat(model="tiny", messages=MESSAGES, options={**GREEDY, "stop": ["Paris"]})
    assert "Paris" not in stopped.message.content and stopped.done_reason == "stop"


def test_num_ctx_bounds_prompt_and_reply_together(client, tiny_server):
    reply = client.chat(model="tiny", messages=MESSAGES, options={"num_ctx": 36, "temperature": 0})
    assert reply.done_reason == "length" and reply.prompt_eval_count + reply.eval_count <= 36
    with pytest.raises(ollama.ResponseError) as small:
        client.chat(model="tiny", messages=MESSAGES, options={"num_ctx": 10})
    assert small.value.status_code == 400 and "num_ctx 10" in small.value.error
    with pytest.raises(ollama.ResponseError) as big:
        client.chat(model="tiny", messages=MESSAGES, options={"num_ctx": 4096})
    assert big.value.status_code == 400 and "--ctx 4096" in big.value.error


def test_format_json_and_a_schema_constrain_the_reply(client):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"],
              "additionalProperties": False}
    ask = [{"role": "user", "content": "Which city is the capital of France? Reply in JSON."}]
    reply = client.chat(model="tiny", messages=ask, format=schema, options={"num_predict": 40, "temperature": 0})
    jsonschema.validate(json.loads(reply.message.content), schema)
    reply = client.generate(model="tiny", prompt="Describe Paris as JSON.", format="json",
                            options={"num_predict": 60, "temperature": 0})
    assert reply.done_reason == "length" or isinstance(json.loads(reply.response), dict)


def test_tools_come_back_as_ollamas_tool_calls(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                       "required": ["city"]}}}]
    ask = [{"role": "user", "content": "What is the weather in Paris? Use the tool."}]
    for stream in (False, True):
        parts = client.chat(model="tiny", messages=ask, tools=tools, stream=stream,
                            options={"num_predict": 60, "temperature": 0})
        calls = [c for p in (parts if stream else [parts]) for c in p.message.tool_calls or []]
        assert len(calls) == 1 and calls[0].function.name == "get_weather"
        assert isinstance(calls[0].function.arguments["city"], str)


def test_logprobs_cover_the_reply(client, tiny_server):
    body = {"model": "tiny", "messages": MESSAGES, "stream": False, "logprobs": True, "top_logprobs": 2,
            "options": GREEDY}
    status, _, reply = request(tiny_server, "POST", "/api/chat", body)
    assert status == 200
    entries = reply["logprobs"]
    assert "".join(e["token"] for e in entries) == reply["message"]["content"]
    assert all(e["logprob"] <= 0 and len(e["top_logprobs"]) <= 2 for e in entries)
    assert all(e["top_logprobs"][0]["logprob"] >= e["logprob"] - 1e-6 for e in entries if e["top_logprobs"])


@pytest.mark.parametrize("body, status, names", [
    ({"model": "nope"}, 404, 'model "nope" not found'),
    # A catalog model this machine lacks, in ollama's spelling: the operator's fix, not "not found".
    ({"model": "qwen2.5-0.5b:latest"}, 404, "qwen2.5-0.5b not downloaded on this server: its operator can run: "
     "safe-local pull qwen2.5-0.5b"),
    ({"options": {"top_k": 40}}, 400, "options.top_k: safe-local's sampler has no top-k cut"),
    ({"options": {"mirostat": 2}}, 400, "options.mirostat"),
    ({"options": {"num_predict": 0}}, 400, "options.num_predict must be a positive"),
    ({"options": {"temperature": "hot"}}, 400, "temperature must be a number"),
    ({"think": True}, 400, "think:"),
    ({"messages": [{"role": "user", "content": "hi", "images": ["aGk="]}]}, 400, "images"),
    ({"format": "yaml"}, 400, "format"),
    ({"keep_going": 1}, 400, "keep_going: not supported"),
])
def test_bad_requests_are_one_line_in_ollamas_error_shape(tiny_server, body, status, names):
    full = {"model": "tiny", "messages": MESSAGES, "options": {"num_predict": 4}} | body
    got, _, reply = request(tiny_server, "POST", "/api/chat", full)
    assert got == status and list(reply) == ["error"], reply
    assert names in reply["error"] and "\n" not in reply["error"]


def test_the_model_management_routes_are_refused_and_the_client_sees_why(client, tiny_server):
    with pytest.raises(ollama.ResponseError) as pull:
        client.pull("tiny")
    assert pull.value.status_code == 501 and "safe-local pull" in pull.value.error
    status, _, reply = request(tiny_server, "POST", "/api/nowhere", {})
    assert status == 404 and "/api/chat" in reply["error"]


def test_load_unload_and_ps(client, tiny_server):
    assert request(tiny_server, "POST", "/api/generate", {"model": "tiny"})[2]["done_reason"] == "load"
    assert [m.model for m in client.ps().models] == ["tiny:latest"]
    unloaded = request(tiny_server, "POST", "/api/chat", {"model": "tiny", "messages": [], "keep_alive": 0})[2]
    assert unloaded["done_reason"] == "unload" and unloaded["message"]["content"] == ""
    assert client.ps().models == []
    reply = client.generate(model="tiny", prompt=PROMPT, options={"num_predict": 4, "temperature": 0})
    assert reply.eval_count == 4 and reply.load_duration > 10**8  # loaded again, which took time
    assert client.ps().models[0].context_length == 2048


def test_litellm_speaks_ollamas_api_to_the_server(tiny_server, trio):
    chat = litellm.completion(model="ollama_chat/tiny", messages=MESSAGES, api_base=tiny_server.url, max_tokens=12,
                              temperature=0)
    ref = engine(trio, MESSAGES, max_tokens=12)
    assert chat.choices[0].message.content == ref.text and chat.usage.completion_tokens == ref.stats.tokens
    # LiteLLM's "ollama" provider writes its own prompt and sends it to /api/generate
    text = litellm.completion(model="ollama/tiny", messages=MESSAGES, api_base=tiny_server.url, max_tokens=12,
                              temperature=0)
    assert text.choices[0].message.content.strip() and text.usage.completion_tokens <= 12
