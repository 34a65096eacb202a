"""The request bodies the server accepts, and what they ask of the engine.

`ChatRequest` and `CompletionRequest` declare the OpenAI fields the server honours (strict types:
a "5" is no number), pass the ensemble's own options (`method`, `base`, `chunk`, `weights`, ...
every GenerationConfig field but `top_k`) from the top level of the body to the engine, whose own
checks judge their values, and name every other field in `unsupported()`: the server answers
those with a 400, never by dropping them. `response_format` or `tools`/`tool_choice` become the
reply's constraint (`grammar()`), `logprobs`/`top_logprobs` how many alternatives to record. A
JSON null means the field is absent, as several SDKs send every optional field. Left out: `n`
other than 1 and images (refused below), and anything about which model answers
(safe_local.server.models).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from safe_local.api import RAW, Message
from safe_local.errors import SafeLocalError
from safe_local.generation_config import GenerationConfig
from safe_local.grammar import Grammar

# GenerationConfig fields a body may set by name. top_k is left out: other servers read it as a
# sampling option, and taking it for UniTE's union size would change the ensemble silently.
_OPENAI_NAMED = {"max_tokens", "temperature", "top_p", "seed", "stop"}
EXTENSION_FIELDS = frozenset(f.name for f in dataclasses.fields(GenerationConfig)) - _OPENAI_NAMED - {"top_k"}
# Fields with no effect here that clients send as a matter of course, accepted as long as they ask
# for nothing the server would not do (see `unsupported`).
_NO_EFFECT = {"user", "metadata", "store", "service_tier", "logit_bias", "parallel_tool_calls", "modalities"}
# Why some well-known fields are refused, and what to use instead.
_INSTEAD = {
    "top_k": "safe-local's sampler has no top-k cut: use min_p (or top_p)",
    "functions": "use tools", "function_call": "use tools and tool_choice",
    "best_of": "send one request per reply", "suffix": "safe-local continues prompts only at their end",
}
# OpenAI's "developer" role is the system message of newer clients.
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# What the OpenAPI schema says of the messages: the validators below check it with messages that
# name the field, so the schema is declared rather than derived (clients and fuzzers read it).
_TEXT = {"anyOf": [{"type": "string"}, {"type": "array", "items": {
    "type": "object", "required": ["type", "text"],
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]}
_MESSAGES = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["role"],
    "properties": {"role": {"enum": list(_ROLES)}, "content": {"anyOf": [_TEXT, {"type": "null"}]},
                   "tool_call_id": {"type": "string"},
                   "tool_calls": {"type": "array", "items": {"type": "object", "required": ["function"], "properties": {
                       "id": {"type": "string"}, "type": {"const": "function"},
                       "function": {"type": "object", "required": ["name", "arguments"],
                                    "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}}}}}}}}}
_PROMPT = {"anyOf": [{"type": "string", "minLength": 1},
                     {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "string", "minLength": 1}}]}


class NullIsAbsent(BaseModel):
    """A JSON null is the field left out (several SDKs send every optional field)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class StreamOptions(NullIsAbsent):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool = False


class GenerationRequest(NullIsAbsent):
    """What chat and text completions share: the model, sampling, limits and streaming."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str | None = None
    max_tokens: int | None = Field(None, json_schema_extra={"minimum": 1})
    max_completion_tokens: int | None = Field(None, json_schema_extra={"minimum": 1})
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    # llama-server's option, with its meaning: false empties the caches first, so the reply does
    # not depend on earlier requests (a reused prefix is decoded in other batch shapes).
    cache_prompt: bool = True

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_strings(cls, stop: Any) -> Any:
        # Checked before the union's own checks, whose errors would name each alternative in turn.
        if stop is None or isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
            return stop
        raise ValueError(f"stop must be a string or a list of strings, got {stop!r}")

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n = 1 is supported: send one request per reply")
        return n

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    def grammar(self) -> Grammar | None:
        """The constraint the body asks for (none here; chat's response_format)."""
        return None

    def top_logprobs_wanted(self) -> int | None:
        """How many alternatives to give with each piece's log-probability; None: no log-probabilities."""
        return None

    def engine_tools(self) -> list[dict[str, Any]] | None:
        """The tools every model's prompt describes (chat only)."""
        return None

    def unsupported(self) -> list[tuple[str, str]]:
        """(field, why) for each field of the body the server does not honour, in body order."""
        out = []
        for key, value in (self.model_extra or {}).items():
            if key in EXTENSION_FIELDS or (key in _NO_EFFECT and _no_effect(key, value)):
                continue
            out.append((key, _INSTEAD.get(key, "not supported by safe-local")))
        return out

    def options(self) -> dict[str, Any]:
        """Engine options the body sets; values are checked by GenerationConfig, not here."""
        # max_completion_tokens is the newer name for the same limit; a client that sends both means it.
        limit = self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens
        named = {"max_tokens": limit, "temperature": self.temperature, "top_p": self.top_p,
                 "seed": self.seed, "stop": self.stop}
        extensions = {k: v for k, v in (self.model_extra or {}).items() if k in EXTENSION_FIELDS}
        return {k: v for k, v in named.items() if v is not None} | extensions


class ChatRequest(GenerationRequest):
    messages: Annotated[list[dict[str, Any]], WithJsonSchema(_MESSAGES)]
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, json_schema_extra={"minimum": 0, "maximum": 20})

    @field_validator("top_logprobs")
    @classmethod
    def _top_range(cls, n: int | None) -> int | None:
        return _within(n, 20, "")

    def top_logprobs_wanted(self) -> int | None:
        if self.top_logprobs is not None and not self.logprobs:
            raise SafeLocalError("top_logprobs needs logprobs: true")
        return (self.top_logprobs or 0) if self.logprobs else None

    @field_validator("response_format")
    @classmethod
    def _known_format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = None if value is None else value.get("type")
        if value is not None and kind not in ("text", "json_object", "json_schema"):
            raise ValueError(f"type must be text, json_object or json_schema, got {kind!r}")
        if kind == "json_schema" and not isinstance((value.get("json_schema") or {}).get("schema", {}), (dict, bool)):
            raise ValueError("json_schema.schema must be a JSON Schema object")
        return value

    @field_validator("tools")
    @classmethod
    def _functions(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return check_tools(tools)

    @field_validator("tool_choice")
    @classmethod
    def _choice(cls, choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        named = isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str)
        if choice is not None and choice not in ("none", "auto", "required") and not named:
            raise ValueError('must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}')
        return choice

    def tool_mode(self) -> str | None:
        """None without tools (or with tool_choice none), else "auto", "required" or the tool's name."""
        if not self.tools or self.tool_choice == "none":
            return None
        if isinstance(self.tool_choice, dict):
            return self.tool_choice["function"]["name"]
        return self.tool_choice or "auto"

    def grammar(self) -> Grammar | None:
        """The constraint response_format or tools ask for (None for free text); SafeLocalError if unusable."""
        mode = self.tool_mode()
        if mode is not None:
            if (self.response_format or {}).get("type", "text") != "text":
                raise SafeLocalError("response_format together with tools is not supported: send one of them")
            return Grammar.tool_calls(self.tools or [], mode)
        kind = (self.response_format or {}).get("type", "text")
        if kind == "json_object":
            return Grammar.json_object()
        if kind == "json_schema":
            return Grammar.from_json_schema((self.response_format or {}).get("json_schema", {}).get("schema", {}))
        return None

    @field_validator("messages")
    @classmethod
    def _text_messages(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not messages:
            raise ValueError("no messages: send at least one {\"role\": \"user\", \"content\": ...}")
        return [text_message(i, m) for i, m in enumerate(messages)]

    def engine_messages(self) -> list[Message]:
        return self.messages

    def engine_tools(self) -> list[dict[str, Any]] | None:
        """The tools every model's prompt describes (none under tool_choice none)."""
        return self.tools if self.tool_mode() is not None else None


class CompletionRequest(GenerationRequest):
    prompt: Annotated[str | list[str], WithJsonSchema(_PROMPT)]
    logprobs: int | None = Field(None, json_schema_extra={"minimum": 0, "maximum": 5})
    echo: bool = False

    @field_validator("logprobs")
    @classmethod
    def _logprobs_range(cls, n: int | None) -> int | None:
        return _within(n, 5, " (the alternatives given with each token)")


    @field_validator("prompt", mode="before")
    @classmethod
    def _one_prompt(cls, prompt: Any) -> str:
        if isinstance(prompt, list) and len(prompt) != 1:
            raise ValueError(f"{len(prompt)} prompts: send one prompt per request")
        if isinstance(prompt, list):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ValueError(f"the prompt must be a string, got {prompt!r}")
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        return prompt

    def engine_messages(self) -> list[Message]:
        # OpenAI's text completions continue the prompt itself: no chat template around it.
        return [{"role": RAW, "content": self.prompt}]

    def top_logprobs_wanted(self) -> int | None:
        if self.echo and self.logprobs is not None:
            raise SafeLocalError("logprobs with echo would need the prompt's own log-probabilities, which are not "
                                 "computed: drop one of them")
        return self.logprobs


def _within(n: int | None, top: int, meaning: str) -> int | None:
    if n is not None and not 0 <= n <= top:
        raise ValueError(f"must be from 0 to {top}{meaning}, got {n}")
    return n


def _no_effect(key: str, value: Any) -> bool:
    """Whether a no-effect field's value asks for nothing the server would have to do."""
    if key == "store":
        return value is False
    if key == "logit_bias":
        return value == {}
    if key == "service_tier":
        return value in ("auto", "default")
    if key == "modalities":
        return value == ["text"]
    return True


def check_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The tools as sent, if each is an OpenAI function tool with a usable name (ValueError naming the first that is not)."""
    for i, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise ValueError(f"tool {i} must be {{\"type\": \"function\", \"function\": {{...}}}}")
        if not isinstance(function.get("name"), str) or not _TOOL_NAME.match(function["name"]):
            raise ValueError(f"tool {i} needs a name of 1-64 letters, digits, _ or -, got {function.get('name')!r}")
        if not isinstance(function.get("parameters", {}), dict):
            raise ValueError(f"tool {i}'s parameters must be a JSON Schema object")
    return tools


def text_message(i: int, message: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ValueError(f"message {i} must be an object with a role and a content, got {message!r:.60}")
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise ValueError(f"message {i} has role {role!r}: use system, user, assistant or tool")
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance((c.get("function") or {}).get("name"), str) for c in calls):
            raise ValueError(f"message {i}: tool_calls must be a list of {{\"function\": {{\"name\", \"arguments\"}}}}")
        text = message.get("content") or ""
        return {"role": "assistant", "content": text if isinstance(text, str) else _parts(i, text), "tool_calls": calls}
    content = message.get("content")
    if isinstance(content, list):  # OpenAI's content parts; only text ones have a meaning here
        content = _parts(i, content)
    if not isinstance(content, str):
        raise ValueError(f"message {i} needs a text content (a string or text parts), got {content!r}")
    return {"role": _ROLES[role], "content": content}


def _parts(i: int, content: Any) -> str:
    if not isinstance(content, list) or not all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
        raise ValueError(f"message {i}: only text content parts ({{\"type\": \"text\", \"text\": ...}}) are supported")
    return "".join(p["text"] for p in content)
