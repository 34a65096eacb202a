"""Replies in OpenAI's shapes: whole chat/text completions and their streamed chunks.

A chat reply streams as a first chunk with the role, content deltas, a last chunk with the
finish reason, and (when the client asked with stream_options.include_usage) a chunk with
usage and no choices; text completions stream the same way without the role. Every finished
reply carries a `safe` object: the engine's statistics (method, models, drafter, E/T,
ensembled positions, per-model decode time, ...). Asked for, each choice carries `logprobs` in
its API's shape (chat: `content` entries with `top_logprobs`; text: OpenAI's legacy arrays), one
entry per piece the reply emitted, with `source` ("drafter" or "ensemble") as an extension.
With tools, a reply that is a call (`<tool_call>{"name", "arguments"}</tool_call>`, or the bare
object: safe_local.grammar.Grammar.tool_calls) comes back as `tool_calls` with finish_reason
"tool_calls"; streamed, such a reply is held until it is whole and sent as one tool_calls delta
(OpenAI's clients accumulate the deltas), while a text reply streams as usual.
Each Reply also says how its protocol frames a stream (`frame`, `closing`: OpenAI's server-sent
events ending with `data: [DONE]`) and an error inside one. Left out: sending them
(safe_local.server.generations).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from safe_local.events import GenerationResult, TokenLogprob
from safe_local.server.errors import ApiError

# The engine's stop reasons in OpenAI's terms: anything cut short by a limit is "length".
FINISH = {"eos": "stop", "stop": "stop", "loop": "stop", "cancelled": "stop", "length": "length", "context": "length"}


def usage(result: GenerationResult) -> dict[str, int]:
    s = result.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.tokens, "total_tokens": s.prompt_tokens + s.tokens}


def safe_info(result: GenerationResult) -> dict[str, Any]:
    info = result.to_dict()
    del info["text"]  # the reply's text is in the choice
    return info


def parse_call(text: str, tools: set[str]) -> tuple[str, dict[str, Any]] | None:
    """(name, arguments) of the call a reply makes to one of `tools`, or None when it makes none."""
    if not tools:
        return None
    body = text.strip()
    if body.startswith("<tool_call>") and body.endswith("</tool_call>"):
        body = body[len("<tool_call>"): -len("</tool_call>")]
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not (isinstance(parsed, dict) and parsed.get("name") in tools and isinstance(parsed.get("arguments"), dict)):
        return None
    return parsed["name"], parsed["arguments"]


def holds(tools: set[str], streamed: int, held: str | None, text: str) -> bool:
    """Whether a streamed piece is held back: with tools, a reply that may be a call is sent once whole."""
    return bool(tools) and (held is not None or (not streamed and text.lstrip()[:1] in ("<", "{")))


class Reply:
    """One response's id, time and model; subclasses give the choice shapes."""

    object = ""
    chunk_object = ""
    prefix = ""
    media_type = "text/event-stream"
    closing = "data: [DONE]\n\n"  # what ends a stream after its last chunk

    @staticmethod
    def frame(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    @staticmethod
    def error(exc: ApiError) -> dict[str, Any]:
        """An error inside a stream whose status line is sent already: OpenAI's error body."""
        return exc.body()

    def __init__(self, model: str, include_usage: bool = False, logprobs: bool = False,
                 tools: list[dict[str, Any]] | None = None, echo: str = ""):
        self.id = f"{self.prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.logprobs = logprobs
        self.tools = {t["function"]["name"] for t in tools or []}
        self.echo = echo  # text completions: the prompt, given back before the reply
        self.offset = 0  # characters streamed so far (the legacy shape's text_offset)

    def whole(self, result: GenerationResult) -> dict[str, Any]:
        choice = self.whole_choice(self.echo + result.text, FINISH[result.stop_reason])
        choice["logprobs"] = self.shaped(result.logprobs or []) if self.logprobs else None
        return self._body(self.object, [choice], usage=usage(result), safe=safe_info(result))

    def start(self) -> list[dict[str, Any]]:
        return [self._chunk([self.chunk_choice(self.echo, None)])] if self.echo else []

    def piece(self, text: str, logprobs: list[TokenLogprob] | None = None) -> list[dict[str, Any]]:
        choice = self.chunk_choice(text, None)
        if self.logprobs:
            choice["logprobs"] = self.shaped(logprobs or [])
        return [self._chunk([choice])]

    def end(self, result: GenerationResult) -> list[dict[str, Any]]:
        last = self._chunk([self.chunk_choice("", FINISH[result.stop_reason])], safe=safe_info(result))
        if not self.include_usage:
            return [last]
        return [last, self._chunk([], usage=usage(result))]

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        raise NotImplementedError

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def shaped(self, entries: list[TokenLogprob]) -> dict[str, Any]:
        """Log-probabilities in this API's shape."""
        raise NotImplementedError

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        if self.include_usage:  # OpenAI sends usage: null on every chunk but the usage one
            extra.setdefault("usage", None)
        return self._body(self.chunk_object, choices, **extra)

    def _body(self, object: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": object, "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": choices, **extra}


class ChatReply(Reply):
    object = "chat.completion"
    chunk_object = "chat.completion.chunk"
    prefix = "chatcmpl"
    held: str | None = None  # streamed with tools: a reply that may be a call, held until whole

    def start(self) -> list[dict[str, Any]]:
        return [self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None}])]

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        call = self.call(text) if finish == "stop" else None
        if call is not None:
            return {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    "logprobs": None, "finish_reason": "tool_calls"}
        return {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}

    def piece(self, text: str, logprobs: list[TokenLogprob] | None = None) -> list[dict[str, Any]]:
        if holds(self.tools, self.offset, self.held, text):
            self.held = (self.held or "") + text
            return []
        self.offset += len(text)
        return super().piece(text, logprobs)

    def end(self, result: GenerationResult) -> list[dict[str, Any]]:
        call = self.call(self.held) if self.held is not None and FINISH[result.stop_reason] == "stop" else None
        if call is None:
            before = super().piece(self.held) if self.held else []
            return before + super().end(result)
        delta = {"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}, "logprobs": None, "finish_reason": None}
        last = self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}],
                           safe=safe_info(result))
        return [self._chunk([delta]), last] + ([self._chunk([], usage=usage(result))] if self.include_usage else [])

    def call(self, text: str) -> dict[str, Any] | None:
        """The tool call a reply makes, in OpenAI's shape, or None when it makes none."""
        found = parse_call(text, self.tools)
        if found is None:
            return None
        return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                "function": {"name": found[0], "arguments": json.dumps(found[1], ensure_ascii=False)}}

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": {"content": text} if text else {}, "logprobs": None, "finish_reason": finish}

    def shaped(self, entries: list[TokenLogprob]) -> dict[str, Any]:
        return {"content": [{"token": e.token, "logprob": e.logprob, "bytes": e.bytes, "source": e.source,
                             "top_logprobs": [{"token": t, "logprob": lp, "bytes": b} for t, b, lp in e.top]}
                            for e in entries], "refusal": None}


class TextReply(Reply):
    object = chunk_object = "text_completion"
    prefix = "cmpl"

    def shaped(self, entries: list[TokenLogprob]) -> dict[str, Any]:
        offsets = []
        for e in entries:
            offsets.append(self.offset)
            self.offset += len(e.token)
        return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
                "top_logprobs": [{t: lp for t, _, lp in e.top} for e in entries], "text_offset": offsets,
                "source": [e.source for e in entries]}

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        return self.chunk_choice(text, finish)

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
