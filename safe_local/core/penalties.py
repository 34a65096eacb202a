"""Repetition penalties on one model's logits, from the tokens it has seen: llama.cpp's samplers.

- `repetition`: the repeat penalty (CTRL's, with the usual fix that multiplies negative logits
  instead of dividing them), the presence penalty and the frequency penalty over a window of
  recent tokens, as llama.cpp's `penalties` sampler;
- `dry_lengths` / `dry`: DRY ("Don't Repeat Yourself", llama.cpp's `dry` sampler, ported there
  from koboldcpp): a token that would extend a repeat of at least `allowed_length` tokens loses
  multiplier * base ** (length - allowed_length); the repeat counts back only to the last
  sequence breaker (a newline, say);
- `sequence_breakers`: a model's breaker tokens from breaker strings, as llama.cpp derives them;
- `Penalizer`: one model's options and breakers, applied to a logits row in place.

Every function works on one model's own token ids, so each model of an ensemble is penalized in
its own token space before its row is compared or combined with the others. Deviations from
llama.cpp: "-1" windows mean "all the history given" (llama.cpp: the context size, which the
history never exceeds), and control tokens have no text here (their piece is empty), so none of
them is a sequence breaker. Left out: which tokens are the history (the engine passes each
model's prompt and reply so far, as llama.cpp's server feeds the prompt through its samplers),
choosing a token (`sampling`), and llama.cpp's other samplers (XTC, top-n-sigma, mirostat).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .vocab import Vocab

# llama.cpp's limits on breakers: longer strings are cut, and so are the token tails of breakers
# that start inside a token, which keeps the backwards scan for a breaker linear.
BREAKER_MAX_CHARS = 40
BREAKER_MAX_TAIL = 20
# llama.cpp clamps DRY's exponent so the penalty stays a finite float32 (log of FLT_MAX).
_FLOAT_MAX_LOG = 88.7228391


def window(history: np.ndarray, last_n: int) -> np.ndarray:
    """The last `last_n` tokens of the history (-1: all of it, 0: none)."""
    if last_n < 0:
        return history
    return history[max(0, len(history) - last_n):] if last_n else history[:0]


def repetition(logits: np.ndarray, recent: np.ndarray, repeat: float, presence: float, frequency: float) -> None:
    """Penalize, in place, every token that occurs in `recent` (llama.cpp's `penalties`).

    A positive logit is divided by `repeat`, a negative one multiplied (dividing would make
    the token likelier); then count * frequency + presence is subtracted.
    """
    if len(recent) == 0:
        return
    ids, counts = np.unique(recent, return_counts=True)
    x = logits[ids].astype(np.float64)
    x = np.where(x <= 0, x * repeat, x / repeat) - (counts * frequency + presence)
    logits[ids] = x


@dataclass(frozen=True)
class Breakers:
    """Sequence breakers in one model's token space: token id -> the token tails that follow it
    to make a breaker (an empty tail: the token alone is one)."""

    tails: dict[int, tuple[tuple[int, ...], ...]]
    head_mask: np.ndarray  # (n_vocab,) bool: the token starts a breaker
    single_mask: np.ndarray  # (n_vocab,) bool: the token alone is a breaker (never penalized by DRY)


_BREAKER_CACHE: weakref.WeakKeyDictionary[Vocab, dict[tuple[str, ...], Breakers]] = weakref.WeakKeyDictionary()


def sequence_breakers(vocab: Vocab, strings: Sequence[str]) -> Breakers:
    """The breakers of `strings` in this vocabulary, as llama.cpp's get_overlapping_token_sequences.

    A token whose text contains a breaker string is a breaker by itself. A token whose text
    ends with the start of one (a proper prefix) is a breaker's head, followed by the model's
    tokenization of the rest. Built once per vocabulary and breaker list (a pass over every
    piece per string).
    """
    key = tuple(strings)
    cached = _BREAKER_CACHE.setdefault(vocab, {})
    if key in cached:
        return cached[key]
    tails: dict[int, set[tuple[int, ...]]] = {}
    for text in key:
        s = text.encode("utf-8")[:BREAKER_MAX_CHARS]
        if not s:
            continue
        for i, piece in enumerate(vocab.pieces):
            if s in piece:
                tails.setdefault(i, set()).add(())
        for k in range(1, len(s)):
            prefix, rest = s[:k], s[k:]
            tail = None
            for i, piece in enumerate(vocab.pieces):
                if piece.endswith(prefix) and s not in piece:
                    if tail is None:
                        tail = tuple(int(t) for t in vocab.tokenize(rest)[:BREAKER_MAX_TAIL])
                    tails.setdefault(i, set()).add(tail)
    head_mask = np.zeros(vocab.n_vocab, dtype=bool)
    single_mask = np.zeros(vocab.n_vocab, dtype=bool)
    head_mask[list(tails)] = True
    single_mask[[i for i, t in tails.items() if () in t]] = True
    breakers = Breakers({i: tuple(sorted(t, key=len)) for i, t in tails.items()}, head_mask, single_mask)
    cached[key] = breakers
    return breakers


def _repeat_limit(recent: np.ndarray, breakers: Breakers) -> int:
    """How many of the latest tokens a repeat may span: those after the last complete breaker."""
    n = len(recent)
    for j in np.flatnonzero(breakers.head_mask[recent])[::-1]:
        i = n - 1 - int(j)  # tokens after the head
        longest = -1
        for tail in breakers.tails[int(recent[j])]:
            if longest < len(tail) <= i and all(recent[j + 1 + o] == t for o, t in enumerate(tail)):
                longest = len(tail)
        if longest >= 0:
            return i - longest
    return n


def dry_lengths(recent: np.ndarray, allowed_length: int, breakers: Breakers) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, repeat lengths): each token that would extend a repeat of the text's end, with
    the longest such repeat, for repeats of at least `allowed_length` tokens.

    A repeat is an earlier stretch of `recent` equal to its last tokens (counted back no further
    than the last breaker); the token after that stretch would extend it. Vectorized over every
    earlier end point at once, one step back per round, so the rounds are as many as the longest
    repeat is long.
    """
    recent = np.asarray(recent, dtype=np.int64)
    n = len(recent)
    empty = np.zeros(0, dtype=np.int64)
    if n <= allowed_length:
        return empty, empty
    limit = _repeat_limit(recent, breakers)
    if limit < allowed_length:
        return empty, empty
    lengths = np.zeros(n, dtype=np.int64)  # lengths[k]: the repeat ending k tokens before the end
    alive = np.arange(1, n)
    t = 0
    while alive.size and t < limit:
        alive = alive[alive + t < n]  # a repeat stays inside the window
        alive = alive[recent[n - 1 - t - alive] == recent[n - 1 - t]]
        t += 1
        lengths[alive] = t
    k = np.flatnonzero(lengths >= allowed_length)
    if not k.size:
        return empty, empty
    ids, inverse = np.unique(recent[n - k], return_inverse=True)
    longest = np.zeros(len(ids), dtype=np.int64)
    np.maximum.at(longest, inverse, lengths[k])
    return ids, longest


def dry(logits: np.ndarray, recent: np.ndarray, multiplier: float, base: float, allowed_length: int,
        breakers: Breakers) -> None:
    """Subtract DRY's penalty, in place, from every token that would extend a repeat."""
    ids, lengths = dry_lengths(recent, allowed_length, breakers)
    keep = ~breakers.single_mask[ids]
    ids, lengths = ids[keep], lengths[keep]
    if not ids.size:
        return
    exponent = lengths - allowed_length
    if base > 1.000001:
        exponent = np.minimum(exponent, int(_FLOAT_MAX_LOG / math.log(base)))
    logits[ids] = logits[ids] - multiplier * np.power(float(base), exponent)


class Penalizer:
    """One model's repetition penalties: the options and that model's sequence breakers."""

    def __init__(self, vocab: Vocab, *, repeat_penalty: float, repeat_last_n: int, presence_penalty: float,
                 frequency_penalty: float, dry_multiplier: float, dry_base: float, dry_allowed_length: int,
                 dry_penalty_last_n: int, dry_sequence_breakers: Sequence[str]):
        self.repeat, self.repeat_last_n = float(repeat_penalty), int(repeat_last_n)
        self.presence, self.frequency = float(presence_penalty), float(frequency_penalty)
        self.repeats = self.repeat_last_n != 0 and (self.repeat != 1 or self.presence != 0 or self.frequency != 0)
        self.dry_multiplier, self.dry_base = float(dry_multiplier), float(dry_base)
        self.dry_allowed_length, self.dry_last_n = int(dry_allowed_length), int(dry_penalty_last_n)
        self.dries = self.dry_multiplier != 0 and self.dry_base >= 1 and self.dry_last_n != 0
        self.breakers = sequence_breakers(vocab, dry_sequence_breakers) if self.dries else None

    @property
    def active(self) -> bool:
        return self.repeats or self.dries

    def apply(self, logits: np.ndarray, history: np.ndarray) -> None:
        """Penalize one logits row in place, given the model's tokens up to and including the
        position it predicts from (llama.cpp's order: repetition, then DRY)."""
        if self.repeats:
            repetition(logits, window(history, self.repeat_last_n), self.repeat, self.presence, self.frequency)
        if self.breakers is not None:  # set exactly when DRY is on (self.dries)
            dry(logits, window(history, self.dry_last_n), self.dry_multiplier, self.dry_base,
                self.dry_allowed_length, self.breakers)
