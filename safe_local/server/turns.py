"""Turns at the loaded ensemble: one holder at a time, first come first served, a bounded queue.

The engine runs one generation at a time, so requests take turns. `acquire` waits in line and
raises QueueFull when `limit` requests are already waiting (the server answers 429); `close`
turns away everyone still waiting when the server stops. Left out: what a turn is used for, and
releasing it at the right moment (the job that holds it does, when its thread ends).
"""

from __future__ import annotations

import asyncio
from collections import deque


class QueueFull(Exception):
    pass


class Closed(Exception):
    pass


class Turns:
    def __init__(self, limit: int):
        self.limit = limit
        self.busy = False
        self.closed = False
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self) -> None:
        if self.closed:
            raise Closed()
        if not self.busy:
            self._take()
            return
        if len(self._waiting) >= self.limit:
            raise QueueFull()
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn in self._waiting:
                self._waiting.remove(turn)
            elif turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release()  # handed over just as the waiter gave up: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the turn passes on without ever being free
                return
        self.busy = False
        self._idle.set()

    def close(self) -> None:
        self.closed = True
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_exception(Closed())

    async def idle(self) -> None:
        """Wait until no one holds a turn."""
        await self._idle.wait()

    def _take(self) -> None:
        self.busy = True
        self._idle.clear()
