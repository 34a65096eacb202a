"""The reply as text: UTF-8-safe streaming deltas and stop strings.

Engines grow the accepted continuation as bytes, and a token may end inside a UTF-8 character
(byte-level BPE splits emoji and CJK). This turns the growing bytes into text deltas that never
contain half a character, cuts the reply at the first stop string, and holds back a tail that
could still become a stop string so that a stop string never leaks into the stream.
It does not know about tokens or models.
"""

from __future__ import annotations

from typing import Sequence

from safe_local.core import complete_utf8_len


class ReplyText:
    def __init__(self, stops: Sequence[str] = ()):
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._emitted = 0
        self.text = ""
        self.stopped = False

    def update(self, data: bytes, final: bool = False) -> str:
        """Take the whole accepted continuation so far; return the text not yet emitted.

        With final=True everything left is flushed (an incomplete trailing character becomes
        U+FFFD rather than being lost).
        """
        if self.stopped:
            return ""
        end = len(data) if final else complete_utf8_len(data)
        text = data[:end].decode("utf-8", errors="replace")
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            text, self.stopped, final = text[:cut], True, True
        self.text = text
        upto = len(text) if final else max(self._emitted, len(text) - self._hold)
        delta = text[self._emitted : upto]
        self._emitted = upto
        return delta
