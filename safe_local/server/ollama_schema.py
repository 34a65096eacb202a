"""The request bodies of ollama's API (`/api/chat`, `/api/generate`, `/api/show`), and what they
ask of the engine.

ollama's fields with ollama's meanings: `stream` defaults to true; `options` holds the sampler
(`temperature`, `top_p`, `min_p`, `seed`, `stop`, `repeat_penalty`, `repeat_last_n`,
`presence_penalty`, `frequency_penalty`), the limits (`num_predict`: -1 or -2, or absent, run
until the model stops or the context is full, as ollama does; `num_ctx`: prompt and reply
together stay within it, up to the server's --ctx) and, as an extension, the ensemble's own
options (`method`, `weights`, ...); `format` is "json" or a JSON schema; `tools` are OpenAI's
function tools. `keep_alive` 0 unloads the ensemble after the reply (ollama's way to free
memory); any other value keeps it loaded, as the server always does, until another ensemble is
asked for. Every other field and option that would ask for something the server does not do is
named in `unsupported()` (a 400), never dropped: `top_k` (UniTE's union size here), images,
thinking, `suffix`, `template`, `context`, the load-time options (`num_gpu`, `num_thread`, ...).
Left out: the reply's shape (safe_local.server.ollama) and which model answers
(safe_local.server.models).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from safe_local.api import RAW, Message
from safe_local.errors import SafeLocalError
from safe_local.grammar import Grammar
from safe_local.server.schema import (
    EXTENSION_FIELDS,
    NullIsAbsent,
    check_tools,
    text_message,
)

# ollama's options that mean here what they mean to ollama (GenerationConfig has them by name).
_SAMPLER = {"temperature", "top_p", "min_p", "seed", "stop", "repeat_penalty", "repeat_last_n", "presence_penalty",
            "frequency_penalty"}
_LIMITS = {"num_predict", "num_ctx"}
_INSTEAD = {
    "top_k": "safe-local's sampler has no top-k cut: use min_p (or top_p); the ensemble's own top_k is UniTE's "
             "union size and is not set from ollama's options",
    "mirostat": "not supported by safe-local: use temperature, top_p and min_p",
}
_UNTIL_FULL = (-1, -2)  # num_predict: no limit (-1), fill the context (-2)
_ZERO = re.compile(r"^0+(\.0*)?[a-z]*$")  # keep_alive 0, "0", "0s", "0m"


class OllamaRequest(NullIsAbsent):
    """What /api/chat and /api/generate share."""

    model_config = {"extra": "allow", "strict": True}

    model: str | None = None
    stream: bool = True
    options: dict[str, Any] = Field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    keep_alive: int | float | str | None = None
    think: bool | str | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, json_schema_extra={"minimum": 0, "maximum": 20})

    @field_validator("format")
    @classmethod
    def _format(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and value not in ("", "json"):
            raise ValueError(f'must be "json" or a JSON schema object, got {value!r}')
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _top(cls, n: int | None) -> int | None:
        if n is not None and not 0 <= n <= 20:
            raise ValueError(f"must be from 0 to 20, got {n}")
        return n

    def unsupported(self) -> list[tuple[str, str]]:
        """(field, why) for each field or option asked for that the server does not do, in body order."""
        out = [(key, "not supported by safe-local's ollama API") for key in self.model_extra or {}]
        if self.think not in (None, False, ""):
            out.append(("think", "the served models do not think aloud: leave think out or false"))
        for key in self.options:
            if key not in _SAMPLER | _LIMITS | EXTENSION_FIELDS:
                out.append((f"options.{key}", _INSTEAD.get(key, "not supported by safe-local")))
        return out

    @property
    def unload_after(self) -> bool:
        """keep_alive 0: unload the ensemble once the reply is done."""
        value = self.keep_alive
        return value == 0 if isinstance(value, (int, float)) else bool(value and _ZERO.match(value.strip()))

    @field_validator("options")
    @classmethod
    def _options(cls, options: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in options.items() if v is not None}  # null is absent here too

    def engine_options(self) -> dict[str, Any]:
        """Engine options the body sets (values are checked by GenerationConfig); absent num_predict,
        -1 and -2 mean until the model stops or the context (num_ctx, else the server's) is full."""
        options = {k: v for k, v in self.options.items() if k in _SAMPLER | EXTENSION_FIELDS}
        limit = self.options.get("num_predict")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit not in _UNTIL_FULL:
            if limit < 1:
                raise SafeLocalError(f"options.num_predict must be a positive number of tokens, or -1 for no limit, "
                                     f"got {limit}")
            options["max_tokens"] = limit
        elif limit is not None and limit not in _UNTIL_FULL:
            raise SafeLocalError(f"options.num_predict must be a whole number, got {limit!r}")
        return options

    def until_full(self) -> bool:
        return self.options.get("num_predict") in (None, *_UNTIL_FULL)

    def context_limit(self, n_ctx: int) -> int | None:
        """num_ctx when it is less than the server's context; SafeLocalError when it is more."""
        value = self.options.get("num_ctx")
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SafeLocalError(f"options.num_ctx must be a positive whole number, got {value!r}")
        if value > n_ctx:
            raise SafeLocalError(f"options.num_ctx {value} is more than the server's context of {n_ctx} tokens: ask "
                                 f"for less, or start the server with --ctx {value}")
        return value if value < n_ctx else None

    def grammar(self, tools: list[dict[str, Any]] | None = None) -> Grammar | None:
        """The constraint `format` (or tools) asks for; SafeLocalError if unusable."""
        if tools:
            if self.format:
                raise SafeLocalError("format together with tools is not supported: send one of them")
            return Grammar.tool_calls(tools, "auto")
        if self.format == "json":
            return Grammar.json_object()
        if isinstance(self.format, dict):
            return Grammar.from_json_schema(self.format)
        return None

    def top_logprobs_wanted(self) -> int | None:
        if self.top_logprobs is not None and not self.logprobs:
            raise SafeLocalError("top_logprobs needs logprobs: true")
        return (self.top_logprobs or 0) if self.logprobs else None


class OllamaChat(OllamaRequest):
    messages: list[dict[str, Any]] = Field(default_factory=list)  # none: only load the model, as ollama does
    tools: list[dict[str, Any]] | None = None

    @field_validator("tools")
    @classmethod
    def _tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return check_tools(tools)

    @field_validator("messages")
    @classmethod
    def _messages(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, m in enumerate(messages):
            if isinstance(m, dict) and m.get("images"):
                raise ValueError(f"message {i} has images: the served models read text only")
            if isinstance(m, dict) and m.get("thinking"):
                raise ValueError(f"message {i} has thinking: the served models do not think aloud; drop it")
        return [text_message(i, m) for i, m in enumerate(messages)]

    def engine_messages(self) -> list[Message]:
        return self.messages


class OllamaGenerate(OllamaRequest):
    prompt: str = ""  # empty: only load the model, as ollama does
    system: str | None = None
    raw: bool = False
    images: list[Any] | None = None
    suffix: str | None = None
    template: str | None = None
    context: list[int] | None = None

    def unsupported(self) -> list[tuple[str, str]]:
        out = super().unsupported()
        if self.images:
            out.append(("images", "the served models read text only"))
        if self.suffix:
            out.append(("suffix", "safe-local continues prompts only at their end"))
        if self.template:
            out.append(("template", "each model's own chat template is used: send raw: true with a formatted prompt"))
        if self.context:
            out.append(("context", "send the conversation as messages to /api/chat instead"))
        if self.raw and self.system:
            out.append(("system", "a raw prompt has no system message: put it in the prompt"))
        return out

    def engine_messages(self) -> list[Message]:
        if self.raw:  # the prompt as it is, no chat template around it
            return [{"role": RAW, "content": self.prompt}]
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + [{"role": "user", "content": self.prompt}]


class OllamaShow(NullIsAbsent):
    model_config = {"extra": "ignore", "strict": True}

    model: str | None = None
    name: str | None = None  # older clients' spelling of model
    verbose: bool = False

    @property
    def wanted(self) -> str | None:
        return self.model or self.name
