"""Replies in OpenAI's shapes: whole chat/text completions and their streamed chunks.

A chat reply streams as a first chunk with the role, content deltas, a last chunk with the
finish reason, and (when the client asked with stream_options.include_usage) a chunk with
usage and no choices; text completions stream the same way without the role. Every finished
reply carries a `safe` object: the engine's statistics (method, models, drafter, E/T,
ensembled positions, per-model decode time, ...). Left out: the SSE framing and `[DONE]`
(safe_local.server.app).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from safe_local.events import GenerationResult

# The engine's stop reasons in OpenAI's terms: anything cut short by a limit is "length".
FINISH = {"eos": "stop", "stop": "stop", "loop": "stop", "cancelled": "stop", "length": "length", "context": "length"}


def usage(result: GenerationResult) -> dict[str, int]:
    s = result.stats
    return {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.tokens, "total_tokens": s.prompt_tokens + s.tokens}


def safe_info(result: GenerationResult) -> dict[str, Any]:
    info = result.to_dict()
    del info["text"]  # the reply's text is in the choice
    return info


class Reply:
    """One response's id, time and model; subclasses give the choice shapes."""

    object = ""
    chunk_object = ""
    prefix = ""

    def __init__(self, model: str, include_usage: bool = False):
        self.id = f"{self.prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def whole(self, result: GenerationResult) -> dict[str, Any]:
        choice = self.whole_choice(result.text, FINISH[result.stop_reason])
        return self._body(self.object, [choice], usage=usage(result), safe=safe_info(result))

    def start(self) -> list[dict[str, Any]]:
        return []

    def piece(self, text: str) -> dict[str, Any]:
        return self._chunk([self.chunk_choice(text, None)])

    def end(self, result: GenerationResult) -> list[dict[str, Any]]:
        last = self._chunk([self.chunk_choice("", FINISH[result.stop_reason])], safe=safe_info(result))
        if not self.include_usage:
            return [last]
        return [last, self._chunk([], usage=usage(result))]

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        raise NotImplementedError

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
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

    def start(self) -> list[dict[str, Any]]:
        return [self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None}])]

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        return {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": finish}

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": {"content": text} if text else {}, "logprobs": None, "finish_reason": finish}


class TextReply(Reply):
    object = chunk_object = "text_completion"
    prefix = "cmpl"

    def whole_choice(self, text: str, finish: str) -> dict[str, Any]:
        return self.chunk_choice(text, finish)

    def chunk_choice(self, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
