"""Byte-offset alignment against direct string-based definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from safe_local.core import (
    aligned_indices,
    candidate_positions,
    complete_utf8_len,
    token_ends,
)

from .conftest import make_vocab, text_and_pieces, texts


def _prefixes(pieces: list[bytes]) -> set[bytes]:
    """Every concatenation of a prefix of the token pieces: the texts ending on a boundary."""
    out, acc = {b""}, b""
    for p in pieces:
        acc += p
        out.add(acc)
    return out


def test_token_ends_is_the_cumulative_piece_length():
    v = make_vocab(["So", "fia", "中"])
    ids = v.tokenize(" Sofia中".encode())
    assert token_ends(v.piece_len, ids).tolist() == [1, 3, 6, 9]
    assert token_ends(v.piece_len, np.array(ids)).dtype == np.int64
    assert token_ends(v.piece_len, []).tolist() == []
    assert token_ends(v.piece_len, [1, 1]).tolist() == [0, 0]  # EOG adds no bytes


@given(texts)
def test_complete_utf8_len_never_cuts_a_character(text):
    data = text.encode()
    for k in range(len(data) + 1):
        n = complete_utf8_len(data[:k])
        data[:n].decode("utf-8")  # must not raise
        assert 0 <= k - n <= 3
        try:
            data[:k].decode("utf-8")
            assert n == k  # nothing held back when the prefix is already complete
        except UnicodeDecodeError:
            assert n < k


def test_complete_utf8_len_passes_garbage_through():
    assert complete_utf8_len(b"") == 0
    assert complete_utf8_len(b"a\xe4") == 1  # lead byte of a 3-byte char: wait for more
    assert complete_utf8_len(b"a\xe4\xb8") == 1
    assert complete_utf8_len("a中".encode()) == 4
    assert complete_utf8_len(b"\xf0\x9f\x98") == 0
    assert complete_utf8_len(b"\x80\x80\x80\x80\x80") == 5  # stray continuation bytes
    assert complete_utf8_len(b"ab\xff") == 3  # 0xff can never start a character
    assert complete_utf8_len(b"\xc3\xa9\xa9") == 3  # complete char plus a stray byte


@given(text_and_pieces())
def test_a_drafted_token_is_a_candidate_exactly_when_the_one_before_is_not_oov_like_eq1(case):
    # candidate_positions is how OOV-like tokens are found: Eq. 1, by strings, says token j is
    # OOV-like when the text up to its end is no concatenation of the verifier's tokens.
    data, (d_extra, v_extra) = case
    d, v = make_vocab(d_extra), make_vocab(v_extra)
    d_ids, v_ids = d.tokenize(data), v.tokenize(data)
    ends_d = token_ends(d.piece_len, d_ids)
    starts_d = ends_d - d.piece_len[d_ids]
    cands = set(candidate_positions(starts_d, [token_ends(v.piece_len, v_ids)], len(data)).tolist())
    boundaries = _prefixes([v.pieces[i] for i in v_ids])
    acc = b""
    for j, i in enumerate(d_ids[:-1]):
        acc += d.pieces[i]
        oov_like = acc not in boundaries
        assert (j + 1 in cands) == (not oov_like and len(acc) < len(data))
    assert (0 in cands) == (len(data) > 0)  # the start of the continuation is every model's boundary


def test_an_oov_like_token_leaves_the_next_one_unchecked_hand_example():
    # Drafter: " So" + "fia"; verifier: " Sofia" as one token. " So" ends inside " Sofia".
    d, v = make_vocab([" So", "fia"]), make_vocab([" Sofia"])
    data = b" Sofia"
    d_ids = d.tokenize(data)
    ends_d = token_ends(d.piece_len, d_ids)
    starts_d = ends_d - d.piece_len[d_ids]
    assert candidate_positions(starts_d, [token_ends(v.piece_len, v.tokenize(data))], len(data)).tolist() == [0]


@given(text_and_pieces(n_sets=3), st.data())
def test_candidate_positions_match_brute_force(case, draw):
    data, (d_extra, *v_extras) = case
    d = make_vocab(d_extra)
    verifiers = [make_vocab(e) for e in v_extras]
    d_ids = d.tokenize(data) + ([1] if draw.draw(st.booleans()) else [])  # maybe end with EOG
    ends_d = token_ends(d.piece_len, d_ids)
    starts_d = ends_d - d.piece_len[d_ids]
    zero_len = d.piece_len[d_ids] == 0
    limit = draw.draw(st.integers(0, len(data)))
    v_pieces = [[v.pieces[i] for i in v.tokenize(data[:limit])] for v in verifiers]
    v_ends = [np.cumsum([len(p) for p in ps], dtype=np.int64) for ps in v_pieces]

    got = candidate_positions(starts_d, v_ends, limit, zero_len=zero_len)

    want = []
    for j in range(len(d_ids)):
        prefix = data[: starts_d[j]]
        shared = all(prefix in _prefixes(ps) for ps in v_pieces)
        in_range = starts_d[j] < limit or (starts_d[j] == limit and zero_len[j])
        if shared and in_range:
            want.append(j)
    assert got.tolist() == want
    # Without zero_len a token at the limit is never a candidate.
    no_zero = candidate_positions(starts_d, v_ends, limit)
    assert no_zero.tolist() == [j for j in want if starts_d[j] < limit]


def test_candidate_eog_at_the_end_of_the_text():
    d, v = make_vocab([" So", "fia"]), make_vocab([" Sofia"])
    data = b" Sofia"
    d_ids = d.tokenize(data) + [1]
    ends_d = token_ends(d.piece_len, d_ids)
    starts_d = ends_d - d.piece_len[d_ids]
    v_ends = [token_ends(v.piece_len, v.tokenize(data))]
    zero = d.piece_len[d_ids] == 0
    assert candidate_positions(starts_d, v_ends, len(data), zero_len=zero).tolist() == [0, 2]
    assert candidate_positions(starts_d, v_ends, len(data) - 1, zero_len=zero).tolist() == [0]


@given(text_and_pieces(n_sets=1), st.lists(st.integers(0, 130), max_size=10))
def test_aligned_indices_match_brute_force(case, offsets):
    data, (v_extra,) = case
    v = make_vocab(v_extra)
    ids = v.tokenize(data)
    ends = token_ends(v.piece_len, ids)
    starts = ends - v.piece_len[ids]
    offsets = np.array(offsets, dtype=np.int64)

    got = aligned_indices(starts, offsets, text_len=len(data))
    want = [
        starts.tolist().index(o) if o in starts else (len(ids) if o == len(data) else -1)
        for o in offsets.tolist()
    ]
    assert got.tolist() == want
    for i, o in zip(got.tolist(), offsets.tolist()):
        if i >= 0:
            assert b"".join(v.pieces[t] for t in ids[:i]) == data[:o]

    # Without text_len, boundary offsets (token starts and the end) give the same answer.
    boundaries = np.array(sorted({0, len(data), *starts.tolist()}), dtype=np.int64)
    assert (
        aligned_indices(starts, boundaries).tolist()
        == aligned_indices(starts, boundaries, text_len=len(data)).tolist()
    )


def test_aligned_indices_empty_verifier_text():
    empty = np.zeros(0, dtype=np.int64)
    assert aligned_indices(empty, np.array([0])).tolist() == [0]
    assert aligned_indices(empty, np.array([0, 1]), text_len=0).tolist() == [0, -1]
