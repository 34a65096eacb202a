"""Replies in ollama's shapes: `/api/chat` messages and `/api/generate` responses, whole or as
newline-delimited JSON chunks.

A stream is one JSON object per line, each `done: false` with a piece of the reply, then a last
one with `done: true`, `done_reason` ("stop" or "length"), `prompt_eval_count`, `eval_count` and
durations in nanoseconds; errors inside a stream are `{"error": "..."}` lines, as ollama sends
them. The durations are the server's own clocks: `load_duration` getting the ensemble ready,
`prompt_eval_duration` from then to the reply's first text (the prompt and the first drafted
chunk: SAFE lets text out a verified chunk at a time), `eval_duration` the rest, and
`total_duration` the whole request. Every last chunk carries the engine's statistics as `safe`,
like the OpenAI replies. With tools, a reply that is a call comes back as
`message.tool_calls` with the arguments as an object (ollama's shape); streamed, it is held until
whole. Left out: sending (safe_local.server.generations) and the request fields
(safe_local.server.ollama_schema).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from safe_local.events import GenerationResult, TokenLogprob
from safe_local.server.errors import ApiError
from safe_local.server.generations import Started
from safe_local.server.replies import FINISH, Reply, holds, parse_call, safe_info

NS = 1_000_000_000


def timestamp() -> str:
    """Now, as ollama writes `created_at` (RFC 3339, UTC)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaReply(Reply):
    """One /api/generate reply; OllamaChatReply puts the text in a message instead."""

    media_type = "application/x-ndjson"
    closing = ""
    text_field = "response"

    def __init__(self, model: str, received: float, started: Started, logprobs: bool = False,
                 tools: list[dict[str, Any]] | None = None):
        super().__init__(model, logprobs=logprobs, tools=tools)
        self.received, self.started = received, started
        self.held: str | None = None
        self.streamed = 0

    @staticmethod
    def frame(data: dict[str, Any]) -> str:
        return json.dumps(data, ensure_ascii=False) + "\n"

    @staticmethod
    def error(exc: ApiError) -> dict[str, Any]:
        return {"error": exc.message}

    def start(self) -> list[dict[str, Any]]:
        return []

    def piece(self, text: str, logprobs: list[TokenLogprob] | None = None) -> list[dict[str, Any]]:
        if holds(self.tools, self.streamed, self.held, text):
            self.held = (self.held or "") + text
            return []
        self.streamed += len(text)
        return [self._line(text, False, logprobs)]

    def end(self, result: GenerationResult) -> list[dict[str, Any]]:
        before: list[dict[str, Any]] = []
        if self.held is not None:
            call = self.call(self.held, result)
            before = [self._line("", False, None, call)] if call else [self._line(self.held, False, None)]
        return before + [self._line("", True, None) | self.finish(result)]

    def whole(self, result: GenerationResult) -> dict[str, Any]:
        call = self.call(result.text, result)
        line = self._line("" if call else result.text, True, result.logprobs if self.logprobs else None, call)
        return line | self.finish(result)

    def call(self, text: str, result: GenerationResult) -> dict[str, Any] | None:
        found = parse_call(text, self.tools) if FINISH[result.stop_reason] == "stop" else None
        return None if found is None else {"function": {"name": found[0], "arguments": found[1]}}

    def finish(self, result: GenerationResult) -> dict[str, Any]:
        """The last chunk's fields: why it ended, the counts and the durations."""
        now, accepted = time.monotonic(), self.started.accepted
        first = self.started.job.first_text or now
        return {"done_reason": FINISH[result.stop_reason], "total_duration": _ns(now - self.received),
                "load_duration": _ns(accepted.load_seconds), "prompt_eval_count": result.stats.prompt_tokens,
                "prompt_eval_duration": _ns(max(0.0, first - accepted.at)), "eval_count": result.stats.tokens,
                "eval_duration": _ns(max(0.0, now - first)), "safe": safe_info(result)}

    def _line(self, text: str, done: bool, logprobs: list[TokenLogprob] | None,
              call: dict[str, Any] | None = None) -> dict[str, Any]:
        line = {"model": self.model, "created_at": timestamp(), **self.content(text, call), "done": done}
        if self.logprobs and logprobs is not None:
            line["logprobs"] = [_logprob(e) for e in logprobs]
        return line

    def content(self, text: str, call: dict[str, Any] | None) -> dict[str, Any]:
        return {self.text_field: text}


class OllamaChatReply(OllamaReply):
    def content(self, text: str, call: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if call is not None:
            message["tool_calls"] = [call]
        return {"message": message}


def done_only(model: str, reason: str) -> dict[str, Any]:
    """The reply to a request that only loads or unloads a model."""
    return {"model": model, "created_at": timestamp(), "response": "", "done": True, "done_reason": reason}


def _logprob(e: TokenLogprob) -> dict[str, Any]:
    return {"token": e.token, "logprob": e.logprob, "bytes": e.bytes,
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": b} for t, b, lp in e.top]}


def _ns(seconds: float) -> int:
    return int(seconds * NS)
