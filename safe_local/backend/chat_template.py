"""Render a conversation into a model's prompt text with the model's own chat template.

Each model in an ensemble keeps its own prompt format; only the generated text is shared.
The template comes from the GGUF metadata (`tokenizer.chat_template`); a base model without
one gets its family's turn format from `models/chat_templates.toml`. Rendering uses
llama-cpp-python's Jinja2ChatFormatter (the same sandboxed Jinja environment as Transformers),
so we do not re-implement template semantics.

Tools (OpenAI's function descriptions), assistant turns that call them and `tool` turns that
answer: a template that knows tools (Qwen2.5's does) renders them itself; for one that does not,
the tools are described in the system turn (TOOLS_PROMPT), a call becomes the assistant text
`<tool_call>{...}</tool_call>` and a result a user turn `<tool_response>...</tool_response>`:
the format Qwen2.5 was trained on, which is also the one a tool-call reply is constrained to
(safe_local.grammar.Grammar.tool_calls), so every model of an ensemble reads one convention.
A single message of role "raw" is a prompt to continue as it is, with no template. Images are
left out.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Sequence

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from safe_local.errors import SafeLocalError

ROLES = ("system", "user", "assistant", "tool")
# A conversation of one message in this role is a raw prompt: its text, with no template (what
# OpenAI's text completions continue).
RAW = "raw"

TOOLS_PROMPT = (
    "You can call functions to help answer. Their signatures are inside <tools></tools>:\n<tools>\n{tools}\n</tools>\n\n"
    "To call one, reply with nothing but a JSON object naming it and giving its arguments inside "
    "<tool_call></tool_call> tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n"
    "</tool_call>\nThe result comes back inside <tool_response></tool_response>."
)


@cache
def _family_templates() -> dict[str, str]:
    data = tomllib.loads(resources.files("safe_local.catalog").joinpath("chat_templates.toml").read_text("utf-8"))
    return {arch: entry["template"] for entry in data.values() for arch in entry["architectures"]}


@dataclass
class ChatTemplate:
    source: str  # "gguf" or "family:<architecture>"
    formatter: Jinja2ChatFormatter

    @classmethod
    def for_model(cls, name: str, architecture: str, embedded: str | None, bos_token: str, eos_token: str) -> ChatTemplate:
        if embedded:
            template, source = embedded, "gguf"
        elif architecture in _family_templates():
            template, source = _family_templates()[architecture], f"family:{architecture}"
        else:
            raise SafeLocalError(
                f"{name}: the GGUF has no chat template and there is no default for architecture "
                f"'{architecture}': use an instruct model that ships a template"
            )
        return cls(source, Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token))

    @property
    def knows_tools(self) -> bool:
        """Whether the template renders tools, tool calls and tool results itself."""
        return "tools" in self.formatter.template

    def render(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> str:
        if len(messages) == 1 and messages[0].get("role") == RAW and isinstance(messages[0].get("content"), str):
            return messages[0]["content"]
        for m in messages:
            content_ok = isinstance(m.get("content"), str) or (m.get("role") == "assistant" and m.get("tool_calls"))
            if m.get("role") not in ROLES or not content_ok:
                raise SafeLocalError(f"bad message {m!r}: each message needs a role in {ROLES} and a text content")
        if self.knows_tools:
            return self.formatter(messages=[_native(m) for m in messages], tools=list(tools) if tools else None).prompt
        return self.formatter(messages=_as_text(messages, tools)).prompt


def tool_call_text(name: str, arguments: Any) -> str:
    """A call as the reply's text: the convention every template here reads (module docstring)."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def _arguments(call: dict) -> Any:
    """A call's arguments as an object: OpenAI sends them as a JSON string, templates want the object."""
    arguments = call.get("function", {}).get("arguments", {})
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    return arguments


def _native(message: dict) -> dict:
    if message.get("role") != "assistant" or not message.get("tool_calls"):
        return message
    calls = [{"type": "function", "function": {"name": c.get("function", {}).get("name", ""), "arguments": _arguments(c)}}
             for c in message["tool_calls"]]
    return {"role": "assistant", "content": message.get("content") or "", "tool_calls": calls}


def _as_text(messages: Sequence[dict], tools: Sequence[dict] | None) -> list[dict]:
    """The conversation for a template that knows no tools: tools described in the system turn,
    calls and results as text in the turns a plain template has."""
    out: list[dict] = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "user", "content": f"<tool_response>\n{m['content']}\n</tool_response>"})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            calls = "\n".join(tool_call_text(c.get("function", {}).get("name", ""), _arguments(c)) for c in m["tool_calls"])
            out.append({"role": "assistant", "content": ((m.get("content") or "") + "\n" + calls).lstrip("\n")})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    if tools:
        described = TOOLS_PROMPT.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools))
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + described}
        else:
            out.insert(0, {"role": "system", "content": described})
    return out
