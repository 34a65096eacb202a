"""A model's token table, reduced to what the ensembling core needs.

The core never talks to a model runtime. A backend builds one `Vocab` per model: the bytes of
every token (its "piece"), which ids end generation, and a callback that tokenizes plain text.
From that the core derives piece lengths (for byte-offset alignment), the union key of each
token (for merging vocabularies) and the first sub-token of any string (for UniTE's fallback).

Left out on purpose: chat templates, BOS handling and special-token parsing (the backend's
job), and any notion of text normalization beyond raw bytes: two tokens are "the same string"
iff their piece bytes are equal.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Sequence

import numpy as np

from .alignment import complete_utf8_len

# One union key for every model's end-of-generation tokens. 0xff never occurs in UTF-8 text,
# so no model's text piece can equal it, and different models' EOS tokens merge into one string.
EOG_KEY: bytes = b"\xff<eog>"


class Vocab:
    """A model's token table as the core sees it: id -> piece bytes, which ids end generation,
    and a tokenizer callback.

    EOG tokens contribute no text to the continuation, so their piece is stored as b"" and their
    length as 0 whatever the backend passed (a piece like b"<|im_end|>" must never be spliced into
    the shared text). Tokens with an empty piece that are not EOG are control tokens (BOS, pads,
    unused slots): they are `excluded` - never proposed and never ensembled.
    """

    def __init__(
        self,
        pieces: Sequence[bytes],
        eog_ids: Iterable[int],
        tokenize: Callable[[bytes], list[int]],
    ):
        n = len(pieces)
        # Keep the backend's order: the first EOG id is the one we hand out for EOG_KEY
        # (backends list the model's own EOS first).
        self.eog_ids: tuple[int, ...] = tuple(dict.fromkeys(int(i) for i in eog_ids))
        for i in self.eog_ids:
            if not 0 <= i < n:
                raise ValueError(f"EOG id {i} is outside the vocabulary of {n} tokens")
        self.eog_mask: np.ndarray = np.zeros(n, dtype=bool)
        self.eog_mask[list(self.eog_ids)] = True

        self.pieces: list[bytes] = [bytes(p) for p in pieces]
        for i in self.eog_ids:
            self.pieces[i] = b""
        self.n_vocab: int = n
        self.piece_len: np.ndarray = np.fromiter(map(len, self.pieces), dtype=np.int64, count=n)
        self.excluded_mask: np.ndarray = (self.piece_len == 0) & ~self.eog_mask
        self.tokenize: Callable[[bytes], list[int]] = tokenize
        self._first: dict[bytes, int | None] = {}
        self._ids: dict[bytes, int] | None = None
        self._shared: dict[bytes, list[int]] = {}  # pieces several ids share (see id_of)

    def key(self, token_id: int) -> bytes:
        """The union key of a token: EOG_KEY for end-of-generation ids, else its piece bytes."""
        return EOG_KEY if self.eog_mask[token_id] else self.pieces[token_id]

    def id_of(self, piece: bytes) -> int | None:
        """The id whose piece is exactly `piece`, or None.

        Where several ids share a piece (SentencePiece byte-fallback tokens like Gemma's <0x20>
        have the same bytes as the real " "), the one the model's tokenizer gives for the piece
        alone is taken: the byte-fallback twin sits near logit -20 where the real token may have
        p 0.5, so scoring a string by it would silently zero that model's vote. Without such a
        tokenization, the lowest id. The table is built on first use (once per model).
        """
        if self._ids is None:
            # Counted first so that only the few shared pieces get a list: one list per piece
            # (262k for Gemma) took 0.3-0.5 s, mostly the garbage collector scanning them.
            counts = Counter(self.pieces)
            self._shared = {p: [] for p, c in counts.items() if c > 1 and p}
            for i, p in enumerate(self.pieces):
                if p in self._shared:
                    self._shared[p].append(i)
            self._ids = {p: i for i, p in enumerate(self.pieces) if p and counts[p] == 1}
        if piece in self._ids:
            return self._ids[piece]
        shared = self._shared.get(piece)
        if shared is None:
            return None
        own = self.tokenize(piece)
        best = int(own[0]) if len(own) == 1 and int(own[0]) in shared else shared[0]
        self._ids[piece] = best
        return best

    def ids_of(self, key: bytes) -> list[int]:
        """Every id whose union key is `key`: all EOG ids for EOG_KEY, every id sharing a piece."""
        if key == EOG_KEY:
            return list(self.eog_ids)
        one = self.id_of(key) if key else None
        return [] if one is None else list(self._shared.get(key, [one]))

    def first_token(self, s: bytes) -> int | None:
        """Id of the first sub-token of `s` under this tokenizer; None for b"" (or if the
        tokenizer returns nothing). EOG_KEY maps to this model's first EOG id.

        A string that is itself one of this model's pieces is that token. Otherwise only its
        complete UTF-8 characters are tokenized: byte-level tokenizers turn a lone partial
        character into U+FFFD, which is not a sub-token of the string at all.
        """
        if s in self._first:
            return self._first[s]
        if s == EOG_KEY:
            first = self.eog_ids[0] if self.eog_ids else None
        else:
            first = self.id_of(s) if s else None
            if first is None:
                whole = s[: complete_utf8_len(s)]
                ids = self.tokenize(whole) if whole else []
                first = int(ids[0]) if len(ids) else None
        self._first[s] = first
        return first

    def __repr__(self) -> str:
        return f"Vocab(n_vocab={self.n_vocab}, eog_ids={list(self.eog_ids)})"
