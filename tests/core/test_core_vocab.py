"""Vocab: piece table, EOG handling, excluded control tokens, first sub-token lookup."""

from __future__ import annotations

import numpy as np
import pytest

from safe_local.core import EOG_KEY, Vocab

from .conftest import make_vocab, piece_id


def test_eog_pieces_are_empty_and_keyed_together():
    v = make_vocab(["So", "fia"], n_eog=2, eog_piece=b"<|im_end|>")
    assert v.eog_mask[[1, 2]].all() and v.eog_mask.sum() == 2
    assert v.pieces[1] == v.pieces[2] == b""
    assert v.piece_len[1] == v.piece_len[2] == 0
    assert v.key(1) == v.key(2) == EOG_KEY
    assert v.key(piece_id(v, "So")) == b"So"


def test_only_empty_non_eog_tokens_are_excluded():
    v = make_vocab(["So"])
    assert v.excluded_mask.tolist() == [True] + [False] * (v.n_vocab - 1)
    assert v.piece_len.dtype == np.int64
    assert v.piece_len[piece_id(v, "So")] == 2


def test_first_token_uses_the_tokenizer_and_caches():
    calls = []
    inner = make_vocab([" So", "fia", " Sofia!"])

    def tokenize(data: bytes) -> list[int]:
        calls.append(data)
        return inner.tokenize(data)

    v = Vocab(inner.pieces, inner.eog_ids, tokenize)
    assert v.first_token(b" Sofia") == piece_id(v, " So")
    assert v.first_token(b" Sofia") == piece_id(v, " So")
    assert calls == [b" Sofia"]
    assert v.first_token(b"") is None
    assert v.first_token(EOG_KEY) == 1
    assert calls == [b" Sofia"]


def test_first_eog_id_follows_the_given_order():
    pieces = [b"a", b"", b"", b"b"]
    v = Vocab(pieces, eog_ids=[2, 1, 2], tokenize=lambda s: [0])
    assert v.eog_ids == (2, 1)
    assert v.first_token(EOG_KEY) == 2
    assert Vocab(pieces, [], lambda s: [0]).first_token(EOG_KEY) is None


def test_eog_id_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        Vocab([b"a"], eog_ids=[3], tokenize=lambda s: [])


def test_a_shared_piece_is_the_token_the_tokenizer_gives_not_its_byte_fallback_twin():
    # SentencePiece layout: byte-fallback ids come first (<0x20> at 1 has the bytes of " "),
    # the real "▁" piece later (4). The tokenizer, like Gemma's, writes " " as id 4.
    pieces = [b"", b" ", b"a", b"b", b" ", b" a"]

    def tokenize(data: bytes) -> list[int]:
        return {b" ": [4], b"a": [2], b" a": [5]}[data]

    v = Vocab(pieces, eog_ids=[], tokenize=tokenize)
    assert v.id_of(b" ") == 4
    assert v.first_token(b" ") == 4  # UniTE's fallback scores " " by the real token's logit
    assert v.id_of(b"a") == 2 and v.id_of(b"zz") is None


def test_a_shared_piece_the_tokenizer_splits_falls_back_to_the_lowest_id():
    v = Vocab([b"", b"x", b"x"], eog_ids=[], tokenize=lambda data: [1, 1])
    assert v.id_of(b"x") == 1
