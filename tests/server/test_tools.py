"""Tool calls through the real server with the openai SDK: a required or named call comes back
as tool_calls whose arguments validate against the function's parameters, streamed too; a
tool result in the history leads to a text answer; tool_choice none and auto answer in text
where no call is wanted; bad tools are a 400."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.server.conftest import request

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                                    "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                   "required": ["a", "b"], "additionalProperties": False}}}
TOOLS = [WEATHER, ADD]
PARAMETERS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def _valid(call) -> dict:
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, PARAMETERS[call.function.name])
    assert call.type == "function" and call.id.startswith("call_")
    return arguments


@pytest.mark.parametrize("method", [{}, {"method": "single"}, {"method": "unite"}, {"method": "safe", "base": "unite"}])
def test_a_required_call_is_a_valid_tool_call(client, method):
    reply = client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS, tool_choice="required",
                                           max_tokens=80, extra_body=method)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    _valid(call)


def test_a_named_call_calls_that_tool_and_streams(client):
    named = {"type": "function", "function": {"name": "add"}}
    reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "What is 2 + 40?"}],
                                           tools=TOOLS, tool_choice=named, max_tokens=60)
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "add" and set(_valid(call)) == {"a", "b"}
    stream = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "What is 2 + 40?"}],
                                            tools=TOOLS, tool_choice=named, max_tokens=60, stream=True)
    deltas, finish = [], None
    for chunk in stream:
        if chunk.choices:
            deltas += chunk.choices[0].delta.tool_calls or []
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and deltas[0].function.name == "add"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == json.loads(call.function.arguments)


def test_a_tool_result_in_the_history_leads_to_an_answer_in_text(client):
    """The two turns of an agent loop: the call, then the answer from the tool's result."""
    first = client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=80)
    call = first.choices[0].message.tool_calls[0]
    history = ASK + [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "18 degrees Celsius and sunny"}]
    second = client.chat.completions.create(model="tiny", messages=history, tools=TOOLS, tool_choice="none", max_tokens=40)
    assert second.choices[0].finish_reason in ("stop", "length") and second.choices[0].message.content
    assert not second.choices[0].message.tool_calls


def test_auto_answers_a_greeting_in_text(client):
    reply = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hello! How are you?"}],
                                           tools=TOOLS, max_tokens=30)
    assert reply.choices[0].message.content and not reply.choices[0].message.tool_calls


@pytest.mark.parametrize("body, param, says", [
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools", "needs a name"),
    ({"tools": [{"type": "retrieval"}]}, "tools", "must be"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice", 'must be "none"'),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice",
     "not one of the tools"),
    ({"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}}, "tool_choice",
     "together with tools"),
])
def test_bad_tool_requests_are_a_400(tiny_server, body, param, says):
    status, _, reply = request(tiny_server, "POST", "/v1/chat/completions", {"messages": ASK, **body})
    assert status == 400 and says in reply["error"]["message"] and reply["error"]["param"] == param, reply
