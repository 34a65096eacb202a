"""Repetition penalties (repeat, presence, frequency, DRY) and min-p against naive references.

The references follow llama.cpp's samplers literally, token by token (src/llama-sampling.cpp:
`llama_sampler_penalties_apply`, `llama_sampler_dry_apply`), with the repeat lengths found by
brute force instead of the Z-algorithm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local.core import Penalizer, min_p_filter, sample_token
from safe_local.core.penalties import dry, dry_lengths, repetition, sequence_breakers, window
from tests.core.conftest import make_vocab


def naive_repetition(logits, recent, repeat, presence, frequency):
    out = np.array(logits, dtype=np.float64)
    counts = {}
    for t in recent:
        counts[t] = counts.get(t, 0) + 1
    for t, c in counts.items():
        out[t] = out[t] * repeat if out[t] <= 0 else out[t] / repeat
        out[t] -= c * frequency + presence
    return out


def naive_dry(logits, recent, multiplier, base, allowed, single, tails):
    """llama.cpp's DRY with single-token breakers `single` and {head: [tail, ...]} multi-token ones."""
    out = np.array(logits, dtype=np.float64)
    n = len(recent)
    if n <= allowed:
        return out
    rat = lambda i: recent[n - 1 - i]  # noqa: E731 - llama.cpp's "i-th from the end"
    limit = n
    for i in range(n):
        seqs = [()] if rat(i) in single else []
        seqs += tails.get(rat(i), [])
        matches = [len(s) for s in seqs if len(s) <= i and all(s[o] == rat(i - o - 1) for o in range(len(s)))]
        if matches:
            limit = i - max(matches)
            break
    if limit < allowed:
        return out
    best = {}
    for k in range(1, n):
        z = 0
        while z + k < n and rat(z) == rat(z + k):
            z += 1
        z = min(z, limit)
        if z >= allowed:
            token = rat(k - 1)
            best[token] = max(best.get(token, 0), z)
    max_exp = int(88.7228391 / math.log(base)) if base > 1.000001 else 0
    for token, length in best.items():
        if token in single:
            continue
        e = length - allowed
        if max_exp > 0:
            e = min(e, max_exp)
        out[token] -= multiplier * base ** e
    return out


def test_repetition_by_hand():
    logits = np.array([2.0, -1.0, 0.5, 3.0, 0.0], dtype=np.float32)
    repetition(logits, np.array([1, 3, 3, 0]), repeat=2.0, presence=0.5, frequency=0.25)
    # 0: 2/2 - 0.25 - 0.5; 1: -1*2 - 0.25 - 0.5; 3 (twice): 3/2 - 0.5 - 0.5; 2 and 4 unseen
    assert logits.tolist() == [0.25, -2.75, 0.5, 0.5, 0.0]


def test_window_follows_llama_cpp_last_n():
    h = np.arange(10)
    assert window(h, 3).tolist() == [7, 8, 9]
    assert window(h, -1).tolist() == h.tolist() and window(h, 0).size == 0 and window(h, 64).tolist() == h.tolist()


# The three-token "a b c" repeat of llama.cpp's own example: "a b c c b c y a b c" (toy ids of
# the bytes a, b, c, y: conftest puts byte n at id n + 2).
A, B, C, Y = (ord(ch) + 2 for ch in "abcy")


def test_dry_lengths_of_llama_cpp_example():
    vocab = make_vocab([])
    none = sequence_breakers(vocab, [])
    ids, lengths = dry_lengths(np.array([A, B, C, C, B, C, Y, A, B, C]), 2, none)
    # c: 3 -> 4 (after "a b c" comes "c"), y: 2 -> 3 (after "b c" comes "y"); "b" extends only 1
    assert dict(zip(ids.tolist(), lengths.tolist())) == {C: 3, Y: 2}


def test_dry_penalty_and_breakers_by_hand():
    vocab = make_vocab([b"x\n", b"ab"])
    newline, x_newline = vocab.tokenize(b"\n")[0], vocab.id_of(b"x\n")
    breakers = sequence_breakers(vocab, ["\n"])
    assert breakers.single_mask[newline] and breakers.single_mask[x_newline] and not breakers.single_mask[A]
    logits = np.zeros(vocab.n_vocab, dtype=np.float32)
    dry(logits, np.array([A, B, C, C, B, C, Y, A, B, C]), multiplier=0.8, base=1.75, allowed_length=2, breakers=breakers)
    assert logits[C] == pytest.approx(-0.8 * 1.75) and logits[Y] == pytest.approx(-0.8)
    assert np.count_nonzero(logits) == 2
    # A breaker two tokens from the end: repeats may span only the last two tokens.
    ids, lengths = dry_lengths(np.array([A, B, C, C, B, C, Y, newline, B, C]), 2, breakers)
    assert dict(zip(ids.tolist(), lengths.tolist())) == {C: 2, Y: 2}
    # A breaker token is never penalized, however long the repeat it would extend.
    logits = np.zeros(vocab.n_vocab, dtype=np.float32)
    dry(logits, np.array([A, B, newline, A, B]), 1.0, 2.0, 2, sequence_breakers(vocab, []))
    assert logits[newline] == -1.0
    logits = np.zeros(vocab.n_vocab, dtype=np.float32)
    dry(logits, np.array([A, B, newline, A, B]), 1.0, 2.0, 2, breakers)
    assert not logits.any()


def test_a_breaker_that_starts_inside_a_token_has_a_tail():
    # "ab" and "b" end with "b", the start of the breaker "b:": the rest, ":", must follow them.
    vocab = make_vocab([b"ab", b"a:"])
    breakers = sequence_breakers(vocab, ["b:"])
    ab, colon = vocab.id_of(b"ab"), vocab.tokenize(b":")[0]
    assert (colon,) in breakers.tails[ab] and not breakers.single_mask[ab]
    b = vocab.tokenize(b"b")[0]
    assert breakers.tails[b] == ((colon,),)


tokens = st.lists(st.integers(10, 15), max_size=40)


@given(tokens, st.lists(st.floats(-5, 5), min_size=20, max_size=20), st.floats(0.5, 2.0),
       st.floats(-2, 2), st.floats(-2, 2))
def test_repetition_matches_the_reference(recent, raw, repeat, presence, frequency):
    logits = np.array(raw, dtype=np.float64)
    expected = naive_repetition(logits, recent, repeat, presence, frequency)
    repetition(logits, np.array(recent, dtype=np.int64), repeat, presence, frequency)
    assert logits == pytest.approx(expected)


@given(tokens, st.integers(1, 4), st.floats(1.0, 3.0), st.sampled_from([[], ["\n"], ["\n", "k"], ["k:"]]))
def test_dry_matches_the_reference(recent, allowed, base, strings):
    vocab = make_vocab([b"k:", b"xk"])
    pool = [10, 11, vocab.tokenize(b"\n")[0], vocab.tokenize(b"k")[0], vocab.id_of(b"xk"), vocab.tokenize(b":")[0]]
    recent = np.array([pool[t % len(pool)] for t in recent], dtype=np.int64)
    breakers = sequence_breakers(vocab, strings)
    single = set(np.flatnonzero(breakers.single_mask).tolist())
    tails = {h: [t for t in ts if t] for h, ts in breakers.tails.items()}
    logits = np.zeros(vocab.n_vocab)
    expected = naive_dry(logits, recent.tolist(), 0.8, base, allowed, single, tails)
    dry(logits, recent, 0.8, base, allowed, breakers)
    assert logits == pytest.approx(expected)


@given(tokens)
def test_penalties_only_lower_what_was_seen(recent):
    vocab = make_vocab([])
    p = Penalizer(vocab, repeat_penalty=1.3, repeat_last_n=8, presence_penalty=0.2, frequency_penalty=0.1,
                  dry_multiplier=0.8, dry_base=1.75, dry_allowed_length=2, dry_penalty_last_n=-1,
                  dry_sequence_breakers=["\n"])
    logits = np.linspace(-3, 3, vocab.n_vocab).astype(np.float32)
    before = logits.copy()
    p.apply(logits, np.array(recent, dtype=np.int64))
    assert (logits <= before).all()
    assert set(np.flatnonzero(logits < before).tolist()) <= set(recent)


def test_a_penalizer_with_everything_off_is_inactive():
    off = dict(repeat_penalty=1.0, repeat_last_n=64, presence_penalty=0.0, frequency_penalty=0.0,
               dry_multiplier=0.0, dry_base=1.75, dry_allowed_length=2, dry_penalty_last_n=-1,
               dry_sequence_breakers=["\n"])
    vocab = make_vocab([])
    assert not Penalizer(vocab, **off).active
    assert not Penalizer(vocab, **{**off, "repeat_penalty": 1.2, "repeat_last_n": 0}).active
    assert Penalizer(vocab, **{**off, "frequency_penalty": 0.1}).active
    assert Penalizer(vocab, **{**off, "dry_multiplier": 0.5}).active


def test_min_p_by_hand_and_in_sampling():
    p = np.array([0.5, 0.3, 0.04, 0.16])
    assert min_p_filter(p, 0.1).tolist() == pytest.approx([0.5 / 0.96, 0.3 / 0.96, 0.0, 0.16 / 0.96])
    assert min_p_filter(p, 0.0).tolist() == pytest.approx(p.tolist())
    rng = np.random.default_rng(0)
    logits = np.log(p)
    drawn = {sample_token(logits, 1.0, 1.0, rng, min_p=0.5) for _ in range(300)}
    assert drawn == {0, 1}  # 0.16 < 0.5 * 0.5: cut; 0.3 kept


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50).filter(lambda x: max(x) > 0), st.floats(0, 1))
def test_min_p_keeps_exactly_the_tokens_near_the_best(raw, min_p):
    p = np.array(raw) / sum(raw)
    out = min_p_filter(p, min_p)
    assert out.sum() == pytest.approx(1.0)
    assert ((out > 0) == ((p >= min_p * p.max()) & (p > 0))).all()
