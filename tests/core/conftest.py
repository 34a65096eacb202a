"""Toy vocabularies for the core tests: no model runtime, just piece tables and a tokenizer.

`make_vocab(extra_pieces)` builds a Vocab laid out like a real one: id 0 is a control token
(BOS, empty piece), then the EOG ids, then all 256 single bytes (byte fallback, so any text
tokenizes), then the extra multi-byte pieces. The tokenizer is greedy longest-match, so two toy
"models" with different extra pieces split the same text differently, which is all the
alignment and union code cares about.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from safe_local.core import Vocab

settings.register_profile(
    "core", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("core")

BOS = 0


def greedy_tokenizer(pieces: Sequence[bytes]):
    """Longest-match tokenizer over `pieces` (first id wins for duplicate pieces)."""
    table: dict[bytes, int] = {}
    for i, p in enumerate(pieces):
        if p:
            table.setdefault(p, i)
    longest = max(map(len, table))

    def tokenize(data: bytes) -> list[int]:
        out, i = [], 0
        while i < len(data):
            for n in range(min(longest, len(data) - i), 0, -1):
                tid = table.get(data[i : i + n])
                if tid is not None:
                    out.append(tid)
                    i += n
                    break
            else:  # unreachable with byte fallback
                raise ValueError(f"cannot tokenize {data[i:]!r}")
        return out

    return tokenize


def make_vocab(
    extra: Sequence[bytes | str] = (), n_eog: int = 1, eog_piece: bytes = b"</s>"
) -> Vocab:
    """Toy Vocab: [BOS] + n_eog EOG tokens + 256 bytes + extra pieces."""
    pieces = [b""] + [eog_piece] * n_eog + [bytes([b]) for b in range(256)]
    pieces += [p.encode() if isinstance(p, str) else p for p in extra]
    tokenize = greedy_tokenizer([b"" if 1 <= i <= n_eog else p for i, p in enumerate(pieces)])
    return Vocab(pieces, eog_ids=range(1, 1 + n_eog), tokenize=tokenize)


def piece_id(vocab: Vocab, piece: bytes | str) -> int:
    piece = piece.encode() if isinstance(piece, str) else piece
    return vocab.pieces.index(piece)


def logits_for(vocab: Vocab, scores: dict[bytes | str, float], floor: float = -30.0) -> np.ndarray:
    """float32 logits: `floor` everywhere, the given value for the given pieces (or ids)."""
    out = np.full(vocab.n_vocab, floor, dtype=np.float32)
    for key, value in scores.items():
        out[key if isinstance(key, int) else piece_id(vocab, key)] = value
    return out


# Text mixing ASCII, multi-byte Latin, CJK and 4-byte emoji: every UTF-8 length occurs.
CHARS = list("abSofi ,.\n") + ["é", "ß", "中", "文", "😀", "🎉"]
texts = st.lists(st.sampled_from(CHARS), min_size=0, max_size=30).map("".join)


@st.composite
def text_and_pieces(draw, n_sets: int = 2):
    """A text plus, per toy model, a list of pieces cut from its bytes (so they actually match,
    including pieces that start or end inside a UTF-8 character, as byte-level BPE has)."""
    data = draw(texts).encode()
    sets = []
    for _ in range(n_sets):
        cuts = draw(st.lists(st.tuples(st.integers(0, 40), st.integers(2, 6)), max_size=12))
        pieces = {data[a : a + n] for a, n in cuts if len(data[a : a + n]) >= 2}
        sets.append(sorted(pieces))
    return data, sets
