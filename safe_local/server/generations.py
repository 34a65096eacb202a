"""One generation request, whichever protocol asked: take a turn, start the job, send the reply.

`Generations.start` reads a request's model through the listing (safe_local.server.models),
checks its options, waits for a turn and returns once the reply can start, so every failure
before that is an error status. `respond` then sends the reply whole or streamed, in the
shapes and framing of the protocol's `Reply` (OpenAI's server-sent events, ollama's JSON
lines). A client that disconnects cancels its generation at once, whether it streams, waits
for a whole reply or is still in line. Left out: routes and request bodies (safe_local.server.app,
safe_local.server.ollama).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from safe_local.api import Message, config_for
from safe_local.errors import SafeLocalError
from safe_local.events import Done, Logprobs, TextDelta, TokenLogprob
from safe_local.generation_config import GenerationConfig
from safe_local.reply_shape import ReplyShape
from safe_local.server.errors import ApiError, from_exception
from safe_local.server.job import Accepted, Job
from safe_local.server.loaded import LoadedEnsemble
from safe_local.server.models import Choice, ModelIds
from safe_local.server.replies import Reply
from safe_local.server.scheduler import Scheduler


@dataclass
class Started:
    """A generation whose reply can start: what it runs, its job, and the client's hang-up."""

    choice: Choice
    job: Job
    gone: asyncio.Future[None]
    accepted: Accepted


class Generations:
    def __init__(self, ids: ModelIds, scheduler: Scheduler, loaded: LoadedEnsemble):
        self.ids, self.scheduler, self.loaded = ids, scheduler, loaded

    async def choice(self, model: str | None) -> Choice:
        return await asyncio.to_thread(self.ids.resolve, model)

    def config(self, choice: Choice, options: dict[str, Any], limit_param: str = "max_tokens") -> GenerationConfig:
        """The request's options over the model's (a preset's), checked; ApiError 400 naming what is wrong."""
        try:
            config = config_for(len(choice.specs), choice.options, options)
        except SafeLocalError as e:
            raise ApiError(400, str(e)) from None
        # The engine would stop at a full context anyway; a limit no reply could ever reach is a client mistake.
        if "max_tokens" in options and config.max_tokens > self.loaded.n_ctx:
            raise ApiError(400, f"{limit_param} {config.max_tokens} is more than the context of {self.loaded.n_ctx} "
                           "tokens: ask for fewer, or start the server with a longer --ctx", param=limit_param)
        return config

    async def start(self, request: Request, choice: Choice, messages: list[Message], config: GenerationConfig,
                    shape: ReplyShape, cache_prompt: bool = True) -> Started:
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            job = await self.scheduler.start(choice, messages, config, gone, cache_prompt, shape)
        except BaseException:
            gone.cancel()
            raise
        return Started(choice, job, gone, job.accepted or Accepted())

    async def respond(self, started: Started, reply: Reply, stream: bool) -> Response:
        if stream:
            return StreamingResponse(_stream(started, reply), media_type=reply.media_type,
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            return JSONResponse(reply.whole(await started.job.result()))
        finally:
            started.gone.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone away (the body is already read, so only that can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _stream(started: Started, reply: Reply) -> AsyncIterator[str]:
    job = started.job
    try:
        for chunk in reply.start():
            yield reply.frame(chunk)
        logprobs: list[TokenLogprob] = []  # a piece's log-probability comes before its text is let out
        async for item in job:
            if isinstance(item, Logprobs):
                logprobs += item.entries
            elif isinstance(item, TextDelta):
                for chunk in reply.piece(item.text, logprobs):
                    yield reply.frame(chunk)
                logprobs = []
            elif isinstance(item, Done):
                for chunk in reply.piece("", logprobs) if logprobs else []:
                    yield reply.frame(chunk)
                for chunk in reply.end(item.result):
                    yield reply.frame(chunk)
        if reply.closing:
            yield reply.closing
    except Exception as exc:  # the status line is sent already: say it in the stream, as the protocol does
        yield reply.frame(reply.error(from_exception(exc)))
    finally:
        started.gone.cancel()
        job.cancel.set()  # a no-op after the reply; stops it when the client went away mid-stream
