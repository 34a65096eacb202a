"""Spotting a reply that is stuck in a loop: the same text over and over at its end.

Small models decoding greedily often fall into a cycle ("7. The robe takes 2 bolts ...\\n8. The
robe takes 2 bolts ...") and, left alone, repeat it until the token limit; in an evaluation that
is most of the compute. `is_looping` looks for a stretch at the end of a text that repeats one
period, with every run of digits counted as equal, so a counter that ticks up in each repeat is
still a loop. A reply loops once that stretch is at least `LOOP_CHARS` characters and
`LOOP_REPEATS` periods long: lengths that a real answer's repeated structure (a short list of
steps phrased alike) does not reach. `LoopGuard` applies it to a growing reply.

Left out: tokens and models (it reads text only) and what to do about a loop (the engine ends the
reply with stop reason "loop").
"""

from __future__ import annotations

import re

LOOP_CHARS = 800  # the repeated stretch must be at least this long...
LOOP_REPEATS = 4  # ...and hold at least this many periods
_WINDOW = 8192  # characters of the tail examined: periods up to _WINDOW / LOOP_REPEATS
_CHECK_EVERY = 64  # characters of new text between two checks (a check is O(window))
_DIGITS = re.compile(r"\d+")


def _z_array(s: str) -> list[int]:
    """z[i] = length of the longest common prefix of s and s[i:] (Gusfield's Z algorithm)."""
    n = len(s)
    z = [0] * n
    if n:
        z[0] = n
    left = right = 0
    for i in range(1, n):
        if i < right:
            z[i] = min(right - i, z[i - left])
        while i + z[i] < n and s[z[i]] == s[i + z[i]]:
            z[i] += 1
        if i + z[i] > right:
            left, right = i, i + z[i]
    return z


def is_looping(text: str) -> bool:
    """Whether the text ends in at least LOOP_REPEATS repeats covering LOOP_CHARS characters."""
    tail = _DIGITS.sub("0", text[-_WINDOW:])[::-1]
    z = _z_array(tail)
    for p in range(1, len(tail) // LOOP_REPEATS + 1):
        if z[p] + p >= max(LOOP_REPEATS * p, LOOP_CHARS):
            return True
    return False


class LoopGuard:
    """Watches a growing reply and says when it has fallen into a loop.

    It checks at most once per `_CHECK_EVERY` new characters, which keeps its cost small
    next to decoding while stopping a loop within a few tokens of its threshold.
    """

    def __init__(self) -> None:
        self._checked = 0

    def looping(self, text: str) -> bool:
        if len(text) - self._checked < _CHECK_EVERY:
            return False
        self._checked = len(text)
        return is_looping(text)
