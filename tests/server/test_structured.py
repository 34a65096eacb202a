"""Structured output through the real server: `response_format` constrains every method's reply,
greedy and sampled, so each finished reply parses and validates; a reply cut by max_tokens says
so with finish_reason "length"; json_object gives a JSON object; bad schemas are a 400."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.server.conftest import request
from tests.server.schemas import SCHEMAS

METHODS = {"single": {"method": "single"}, "safe-unite": {"method": "safe", "base": "unite"},
           "safe-gac": {"method": "safe", "base": "gac"}, "unite": {"method": "unite"}, "gac": {"method": "gac"}}
SAMPLERS = {"greedy": {}, "sampled": {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05, "seed": 1}}


def _ask(server, question: str, response_format: dict, **extra) -> tuple[int, dict]:
    body = {"messages": [{"role": "user", "content": question}], "response_format": response_format,
            "max_tokens": 160, **extra}
    status, _, reply = request(server, "POST", "/v1/chat/completions", body)
    return status, reply


def _json_schema(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("method", METHODS)
def test_every_finished_reply_of_every_method_validates(tiny_server, method, sampler):
    finished = 0
    for question, schema in SCHEMAS:
        status, reply = _ask(tiny_server, question, _json_schema(schema), **METHODS[method], **SAMPLERS[sampler])
        assert status == 200, reply
        choice = reply["choices"][0]
        if choice["finish_reason"] == "length":
            continue
        assert choice["finish_reason"] == "stop", choice
        jsonschema.validate(json.loads(choice["message"]["content"]), schema)
        finished += 1
    assert finished >= len(SCHEMAS) - 2, f"only {finished} of {len(SCHEMAS)} replies finished"


def test_a_reply_cut_by_the_token_limit_says_length(tiny_server):
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    status, reply = _ask(tiny_server, "Tell a long story.", _json_schema(schema), max_tokens=5)
    assert status == 200 and reply["choices"][0]["finish_reason"] == "length"
    assert reply["choices"][0]["message"]["content"].startswith('{"story":')


def test_json_object_gives_an_object_and_streams(tiny_server, client):
    question = "Give the name and diameter in km of {} as a short JSON object."
    status, reply = _ask(tiny_server, question.format("the Moon"), {"type": "json_object"}, max_tokens=300)
    assert status == 200 and isinstance(json.loads(reply["choices"][0]["message"]["content"]), dict)
    stream = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": question.format("Mars")}],
                                            response_format={"type": "json_object"}, max_tokens=300, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert isinstance(json.loads(text), dict)


@pytest.mark.parametrize("response_format, says", [
    ({"type": "xml"}, "type must be text, json_object or json_schema"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": "[1"}}, "json_schema.schema must be"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "minProperties": "two"}}},
     "unusable json schema"),
])
def test_a_bad_response_format_is_a_400(tiny_server, response_format, says):
    status, reply = _ask(tiny_server, "Hi", response_format)
    assert status == 400 and says in reply["error"]["message"], reply
    assert "\n" not in reply["error"]["message"]


def test_the_openai_sdks_parse_fills_a_pydantic_model(client):
    from pydantic import BaseModel, Field

    class City(BaseModel):
        name: str = Field(max_length=20)
        country: str = Field(max_length=20)
        population: int = Field(ge=0)

    completion = client.chat.completions.parse(model="tiny", messages=[{"role": "user", "content": "Describe Paris."}],
                                               response_format=City, max_tokens=100)
    city = completion.choices[0].message.parsed
    assert isinstance(city, City) and city.name
