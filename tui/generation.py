"""Running one reply on the engine, in the calling (worker) thread, with batched output.

`stream_reply` iterates `Ensemble.stream` and hands the new text and ensemble events to `flush`
at most every `interval` seconds (and once at the end), so the UI thread sees a few dozen
updates per second however fast the models are; the app passes a flush that goes through
`App.call_from_thread`. Cancelling is the caller's threading.Event, which the engine checks
between steps. No Textual here, and nothing about storage: the app decides what to keep.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from safe_local import Done, EnsembleEvent, GenerationResult, TextDelta

if TYPE_CHECKING:
    from safe_local import Ensemble

Flush = Callable[[str, list[EnsembleEvent]], None]
FLUSH_INTERVAL = 1 / 20  # seconds between UI updates while streaming


def stream_reply(
    ensemble: Ensemble,
    messages: Sequence[dict],
    options: dict[str, Any],
    system: str,
    cancel: threading.Event,
    flush: Flush,
    interval: float = FLUSH_INTERVAL,
) -> GenerationResult:
    """Generate one reply; return the engine's result (stop_reason "cancelled" when stopped)."""
    text: list[str] = []
    events: list[EnsembleEvent] = []
    last = time.monotonic()
    result = None
    for event in ensemble.stream(list(messages), system=system or None, cancel=cancel, **options):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, EnsembleEvent):
            events.append(event)
        elif isinstance(event, Done):
            result = event.result
        now = time.monotonic()
        if (text or events) and now - last >= interval:
            flush("".join(text), events)
            text, events, last = [], [], now
    if text or events:
        flush("".join(text), events)
    assert result is not None, "the engine always ends a stream with Done"
    return result
