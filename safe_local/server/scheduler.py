"""Requests take turns at the one loaded ensemble: wait in line, run as a Job, give the turn back.

`start` waits for a turn (ApiError 429 with Retry-After when the line is full, 503 once the
server is stopping), starts the request's Job and waits until its reply can start, so a
request that fails (unknown model, too big, prompt too long) gets its error status before any
reply byte. `load` and `unload` take a turn for that alone (ollama's requests without a prompt,
and keep_alive 0). A client that leaves while waiting gives up its place. `stop_threadsafe` (Ctrl+C)
cancels the running generation and turns the waiting requests away; `close` waits for the last
turn to end and unloads the models. Left out: HTTP and formats (safe_local.server.app).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any, Callable, Iterator

from safe_local.api import Message
from safe_local.generation_config import GenerationConfig
from safe_local.reply_shape import ReplyShape
from safe_local.server.errors import ApiError
from safe_local.server.job import Job, load, turn, unload
from safe_local.server.loaded import LoadedEnsemble
from safe_local.server.models import Choice
from safe_local.server.turns import Closed, QueueFull, Turns


class Scheduler:
    def __init__(self, loaded: LoadedEnsemble, queue: int):
        self.loaded = loaded
        self.turns = Turns(queue)
        self.job: Job | None = None
        self._turn_seconds = 1.0  # how long the last turn took: the basis of Retry-After
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the app starts, for signal handlers

    def status(self) -> dict[str, Any]:
        return {"loaded": ",".join(self.loaded.names), "generating": self.turns.busy,
                "queued": self.turns.waiting, "queue_limit": self.turns.limit}

    async def start(self, choice: Choice, messages: list[Message], config: GenerationConfig,
                    gone: asyncio.Future[None], cache_prompt: bool = True, shape: ReplyShape = ReplyShape()) -> Job:
        """A running Job whose reply has been accepted; `gone` resolving cancels it (client left)."""
        return await self._run(lambda cancel: turn(self.loaded, choice, messages, config, cancel, cache_prompt, shape),
                               gone)

    async def load(self, choice: Choice, gone: asyncio.Future[None]) -> Job:
        """Load `choice` in a turn of its own (ollama's request without a prompt); its Job has ended."""
        job = await self._run(lambda cancel: load(self.loaded, choice), gone)
        await _drain(job)
        return job

    async def unload(self, gone: asyncio.Future[None]) -> None:
        """Close the loaded ensemble in a turn of its own, once the turns before it are done."""
        await _drain(await self._run(lambda cancel: unload(self.loaded), gone))

    async def _run(self, work: Callable[[threading.Event], Iterator[object]], gone: asyncio.Future[None]) -> Job:
        await self._wait_turn(gone)
        started = time.monotonic()

        def end() -> None:
            self._turn_seconds = time.monotonic() - started
            self.job = None
            self.turns.release()

        try:
            self.job = job = Job(work, on_end=end)
        except BaseException:
            end()
            raise
        gone.add_done_callback(lambda _: job.cancel.set())
        await job.started()
        return job

    async def _wait_turn(self, gone: asyncio.Future[None]) -> None:
        waiting = asyncio.ensure_future(self.turns.acquire())
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():  # the client left while in line
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            raise ApiError(503, "the client went away while waiting")
        try:
            waiting.result()
        except QueueFull:
            retry = max(1, math.ceil(self._turn_seconds * (self.turns.waiting + 1)))
            raise ApiError(429, f"{self.turns.waiting} requests are already waiting for the ensemble: try again "
                           f"in about {retry} s", code="queue_full", headers={"Retry-After": str(retry)}) from None
        except Closed:
            raise ApiError(503, "the server is stopping: send the request again once it is back") from None
        if gone.done():  # the turn came just as the client left: pass it on
            self.turns.release()
            raise ApiError(503, "the client went away while waiting")

    def stop_threadsafe(self) -> None:
        """From a signal handler: cancel the generation now, the rest on the event loop."""
        if self.job is not None:
            self.job.cancel.set()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.turns.close)

    def join(self, timeout: float) -> bool:
        """From outside the event loop (closed or not): cancel the running generation and wait up to
        `timeout` s for its thread to end; whether it did (the models may be closed only then)."""
        job = self.job
        if job is not None:
            job.cancel.set()
            job.thread.join(timeout)
            return not job.thread.is_alive()
        return True

    async def close(self) -> None:
        self.turns.close()
        if self.job is not None:
            self.job.cancel.set()
        await self.turns.idle()  # the models must outlive the thread that is using them
        await asyncio.to_thread(self.loaded.close)


async def _drain(job: Job) -> None:
    async for _ in job:
        pass
