"""The clients agents and structured-output users point at local servers, against the real
server: LangChain's with_structured_output (json_schema and function_calling) and bind_tools in
a two-turn agent loop, simonw/llm's --schema, and LiteLLM's response_format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

LLM = str(Path(sys.executable).parent / "llm")


class Capital(BaseModel):
    """The capital city of a country."""

    country: str = Field(max_length=20)
    capital: str = Field(max_length=20)


def _weather(city: str) -> str:
    """The current weather in a city."""
    return f"18 degrees and sunny in {city}"


@pytest.fixture
def chat(tiny_server):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="tiny", base_url=tiny_server.base_url, api_key="unused", max_tokens=80, max_retries=0)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(chat, method):
    answer = chat.with_structured_output(Capital, method=method).invoke("What is the capital of France?")
    assert isinstance(answer, Capital) and answer.capital


def test_langchain_bind_tools_agent_loop(chat):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    weather = tool(_weather)
    history = [HumanMessage("What is the weather in Paris?")]
    call = chat.bind_tools([weather], tool_choice="required").invoke(history)
    assert call.tool_calls and call.tool_calls[0]["name"] == "_weather" and "city" in call.tool_calls[0]["args"]
    history += [call, ToolMessage(weather.invoke(call.tool_calls[0]["args"]), tool_call_id=call.tool_calls[0]["id"])]
    # The tool has answered: the last turn asks for text (tiny models call the tool again under "auto").
    final = chat.bind_tools([weather], tool_choice="none").invoke(history)
    assert isinstance(final.content, str) and final.content and not final.tool_calls


def test_llm_schema_through_extra_openai_models_yaml(tiny_server, tmp_path):
    (tmp_path / "extra-openai-models.yaml").write_text(
        f'- model_id: safe-tiny\n  model_name: tiny\n  api_base: "{tiny_server.base_url}"\n  supports_schema: true\n')
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"LLM_USER_PATH": str(tmp_path)}
    p = subprocess.run([LLM, "-m", "safe-tiny", "--schema", "country, capital", "-o", "max_tokens", "80",
                        "The capital of France"], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert set(json.loads(p.stdout)) == {"country", "capital"}


def test_litellm_response_format(tiny_server):
    import litellm

    reply = litellm.completion(model="openai/tiny", api_base=tiny_server.base_url, api_key="unused", max_tokens=80,
                               messages=[{"role": "user", "content": "What is the capital of France?"}],
                               response_format=Capital)
    assert Capital.model_validate_json(reply.choices[0].message.content).capital
