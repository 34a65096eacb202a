"""One request's turn, run in a worker thread: load its ensemble if needed, check the prompt,
generate, and hand the events to the event loop as they come.

The engine blocks and is not thread-safe, so each turn runs in its own thread while the event
loop keeps serving other requests; only the request holding the turn touches the models. The
turn is given back when the thread ends, not when the client goes away, so the next generation
never starts before this one has stopped and left the caches consistent. Setting `cancel`
stops the generation at the engine's next step. Left out: HTTP (safe_local.server.app) and
the response format (safe_local.server.replies).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

from jinja2 import TemplateError

from safe_local.api import Message, Model
from safe_local.events import Done, Event, GenerationResult, TextDelta
from safe_local.generation_config import GenerationConfig
from safe_local.reply_shape import ReplyShape
from safe_local.server.errors import ApiError
from safe_local.server.loaded import LoadedEnsemble
from safe_local.server.models import Choice


@dataclass(frozen=True)
class Accepted:
    """The models are loaded and the prompt fits: the reply can start."""

    load_seconds: float = 0.0  # spent getting the ensemble ready (about 0 when it was loaded already)
    at: float = field(default_factory=time.monotonic)


_END = object()


class Job:
    """Runs `work(cancel)` in a thread; iterate it (async) for what the work yields."""

    def __init__(self, work: Callable[[threading.Event], Iterator[object]], on_end: Callable[[], None]):
        self.cancel = threading.Event()
        self.accepted: Accepted | None = None
        self.first_text: float | None = None  # when the reply's first text came (monotonic): its prompt time ended
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue[object] = asyncio.Queue()
        self._on_end = on_end
        self.thread = threading.Thread(target=self._run, args=(work,), name="safe-local-job", daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[threading.Event], Iterator[object]]) -> None:
        try:
            for item in work(self.cancel):
                if isinstance(item, TextDelta) and self.first_text is None:
                    self.first_text = time.monotonic()
                self._send(self._items.put_nowait, item)
        except BaseException as exc:  # raised again on the event loop, in the request that asked
            self._send(self._items.put_nowait, exc)
        finally:
            self._send(self._items.put_nowait, _END)
            self._send(self._on_end)

    def _send(self, callback: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the server has stopped and no one is listening
            pass

    def __aiter__(self) -> Job:
        return self

    async def __anext__(self) -> object:
        item = await self._items.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def started(self) -> None:
        """Wait for Accepted; the turn's error (ApiError, ...) if it failed before the reply started."""
        async for item in self:
            if isinstance(item, Accepted):
                self.accepted = item
                return
        # Only a cancel ends a turn this early; a client that left never reads this.
        raise ApiError(503, "the server is stopping: send the request again once it is back")

    async def result(self) -> GenerationResult:
        """After started(): the finished reply (a cancelled one too)."""
        async for item in self:
            if isinstance(item, Done):
                return item.result
        raise AssertionError("the engine ended a reply without Done")


def turn(loaded: LoadedEnsemble, choice: Choice, messages: list[Message], config: GenerationConfig,
         cancel: threading.Event, cache_prompt: bool = True, shape: ReplyShape = ReplyShape()
         ) -> Iterator[Accepted | Event]:
    """The work of one turn: Accepted once the reply can start, then the engine's events.

    With `shape.context` (ollama's num_ctx), prompt and reply together stay within it: a longer
    prompt is refused, and the reply is cut (stop reason "length") where it would pass it.
    """
    t0 = time.monotonic()
    ensemble = loaded.get(choice)
    load_seconds = time.monotonic() - t0
    if cancel.is_set():  # the client left while the models loaded
        return
    longest = check_prompt(ensemble.models, messages, config, shape.tools)
    if shape.context is not None:
        if longest >= shape.context:
            raise ApiError(400, f"the prompt is {longest} tokens, not less than num_ctx {shape.context}: shorten the "
                           "conversation or ask for a larger num_ctx", param="num_ctx", code="context_length_exceeded")
        config = replace(config, max_tokens=min(config.max_tokens, shape.context - longest))
    yield Accepted(load_seconds)
    if not cache_prompt:
        ensemble.engine.reset_caches()
    yield from ensemble.engine.stream(messages, config, cancel, shape)


def load(loaded: LoadedEnsemble, choice: Choice) -> Iterator[Accepted]:
    """The work of a turn that only loads `choice`."""
    t0 = time.monotonic()
    loaded.get(choice)
    yield Accepted(time.monotonic() - t0)


def unload(loaded: LoadedEnsemble) -> Iterator[Accepted]:
    """The work of a turn that closes the loaded ensemble (the next request loads it again)."""
    loaded.close()
    yield Accepted()


def check_prompt(models: Sequence[Model], messages: list[Message], config: GenerationConfig,
                 tools: Sequence[dict] | None = None) -> int:
    """The longest prompt, in tokens, of the models that will answer; ApiError 400 unless every one of
    them can render the conversation and has room after it."""
    used = [models[config.single_model]] if config.method == "single" else models
    longest = 0
    for model in used:
        try:
            n = len(model.prompt_tokens(messages, tools))
        except TemplateError as e:
            raise ApiError(400, f"{model.name}'s chat template refuses this conversation: {e}", param="messages") from None
        if n >= model.n_ctx:
            raise ApiError(400, f"the prompt is {n} tokens for {model.name}, whose context is {model.n_ctx}: "
                           "shorten the conversation or start the server with a longer --ctx",
                           param="messages", code="context_length_exceeded")
        longest = max(longest, n)
    return longest
