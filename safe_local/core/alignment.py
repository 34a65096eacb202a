"""Token boundaries on the shared continuation text, as byte offsets.

Every model tokenizes the same continuation differently. To compare them we only need where
each token starts and ends, measured in bytes from the start of the generated continuation:
a drafter token is OOV-like for a verifier when it ends where the verifier has no boundary
(SAFE Eq. 1), a drafted position can be checked only where every model has a boundary, and
there each model's "aligned" token is the one starting at that offset.

OOV-like tokens are found by `candidate_positions` alone: drafted token j+1 starts where token j
ends, so it is a candidate exactly when token j is OOV-like for no verifier. No separate Eq. 1
mask is kept (the engine never needed one; the tests check candidates against Eq. 1 by strings).

Left out on purpose: tokenizing (the Vocab's callback does that), and anything about
probabilities. Everything here is integer arithmetic on sorted offset arrays, vectorized.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def token_ends(piece_len: np.ndarray, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Byte offset where each token of `ids` ends (cumulative sum of piece lengths), int64."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.cumsum(piece_len[ids], dtype=np.int64)


def complete_utf8_len(data: bytes) -> int:
    """Length of the longest prefix of `data` that does not end inside a UTF-8 character.

    Only the last <= 4 bytes are inspected. Bytes that cannot start a character (stray
    continuation bytes, 0xF8-0xFF) count as complete single bytes, so garbage output from a
    model never stalls the text: at most the bytes of one genuinely unfinished character are held.
    """
    n = len(data)
    for back in range(1, min(4, n) + 1):
        b = data[n - back]
        if b & 0xC0 == 0x80:  # continuation byte: the character started further back
            continue
        if b < 0x80:
            need = 1
        elif 0xC0 <= b < 0xE0:
            need = 2
        elif 0xE0 <= b < 0xF0:
            need = 3
        elif 0xF0 <= b < 0xF8:
            need = 4
        else:
            return n
        return n - back if back < need else n
    return n  # four continuation bytes in a row: not a character we could ever finish


def candidate_positions(
    starts_d: np.ndarray,
    verifier_ends: Sequence[np.ndarray],
    limit: int,
    zero_len: np.ndarray | None = None,
) -> np.ndarray:
    """Indices j of drafter tokens that can be verified now, ascending.

    Drafter token j is a candidate iff its start offset is a boundary shared by every verifier
    (offset 0 always is; otherwise it must appear in each verifier's `ends`) and
        start < limit, or start == limit and the token is zero-length (`zero_len[j]`).
    `limit` is the length of the text the verifiers tokenized: a token with bytes starting at or
    after it has no verifier distribution yet. A zero-length token (EOG) starting exactly at
    `limit` is checkable when `limit` is the full text, because every verifier has a
    distribution for the position after its last token.
    """
    starts_d = np.asarray(starts_d, dtype=np.int64)
    shared = np.ones(starts_d.shape, dtype=bool)
    for ends_v in verifier_ends:
        shared &= np.isin(starts_d, ends_v)
    shared |= starts_d == 0
    in_range = starts_d < limit
    if zero_len is not None:
        in_range |= (starts_d == limit) & np.asarray(zero_len, dtype=bool)
    return np.flatnonzero(shared & in_range)


def aligned_indices(
    starts_v: np.ndarray, offsets: np.ndarray, text_len: int | None = None
) -> np.ndarray:
    """For each offset, the index of the verifier token that starts there, else -1.

    An offset at the end of the verifier's text maps to len(starts_v): "the position after the
    last token", where the verifier's distribution over what comes next (e.g. EOG) is read.
    The end cannot be recovered from start offsets alone, so:
    - with `text_len` (length of the text the verifier tokenized), exactly offset == text_len
      maps to len(starts_v);
    - without it, the offsets must be boundaries of the verifier (as candidate offsets are), and
      any offset past the last start is taken to be the end.
    `starts_v` must be ascending (start offsets of a tokenization are).
    """
    starts_v = np.asarray(starts_v, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(starts_v)
    pos = np.searchsorted(starts_v, offsets, side="left")
    found = pos < n
    found[found] = starts_v[pos[found]] == offsets[found]
    out = np.where(found, pos, -1).astype(np.int64)
    if text_len is not None:
        at_end = offsets == text_len
    else:
        at_end = offsets > starts_v[-1] if n else np.ones(offsets.shape, dtype=bool)
    out[~found & at_end] = n
    return out
