"""The progress line on stderr: runs done of the total, a bar, elapsed time and an ETA.

On a terminal the line is redrawn in place, and drawn as soon as the runs start (the first
answer can take minutes); otherwise (a log file) one line is written per finished run, so a
long unattended run leaves a readable trace. The ETA is the mean time of the
runs finished in this session times the runs left (resumed runs count as done but not in the
mean). Left out: per-method ETAs and colours.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int, already_done: int, stream: TextIO | None = None):
        self.total = total
        self.done = already_done
        self.ran = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        if self.tty:
            self._draw(0.0, "–", "running")

    def advance(self, label: str) -> None:
        """One more run finished; label says which (task, item, method, correct or not)."""
        self.done += 1
        self.ran += 1
        elapsed = time.monotonic() - self.start
        self._draw(elapsed, format_duration(elapsed / self.ran * (self.total - self.done)), label)

    def _draw(self, elapsed: float, eta: str, label: str) -> None:
        filled = round(_WIDTH * self.done / self.total) if self.total else _WIDTH
        line = (
            f"{self.done}/{self.total} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
            f"{format_duration(elapsed)} elapsed, ETA {eta}  {label}"
        )
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
