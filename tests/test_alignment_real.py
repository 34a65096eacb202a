"""Eq. 1 (OOV-like tokens) on the real tokenizers, fuzzed, against a direct string implementation."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safe_local.core import aligned_indices, candidate_positions, complete_utf8_len, token_ends

ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" \t\n\n  ():;,.=+-*/'\"#{}[]_")
    + ["def ", "return ", "Incorrect", "Sofia", "    ", "\n\n", "):\n", "\tdef"]
    + list("🎉🚀😀👍🏽") + list("你好世界東京日本語") + ["é", "ß", "ñ", "∑", "→"]
)
TEXTS = st.lists(ALPHABET, min_size=1, max_size=40).map("".join)


def _direct_oov(d_pieces: list[bytes], v_pieces: list[bytes]) -> list[bool]:
    """Eq. 1 by strings: t_j is OOV-like iff the text up to its end is not a concatenation of verifier tokens."""
    v_prefixes = {b""}
    acc = b""
    for p in v_pieces:
        acc += p
        v_prefixes.add(acc)
    out, acc = [], b""
    for p in d_pieces:
        acc += p
        out.append(acc not in v_prefixes)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_candidates_follow_exactly_the_tokens_that_are_not_oov_like(text, qwen, gemma, smol):
    # candidate_positions is how the engine finds OOV-like tokens: token j + 1 is a candidate for
    # one verifier exactly when token j is not OOV-like for it.
    data = text.encode()
    d_ids = qwen.tokenize(data)
    d_pieces = [qwen.vocab.pieces[i] for i in d_ids]
    ends_d = token_ends(qwen.vocab.piece_len, d_ids)
    starts_d = ends_d - qwen.vocab.piece_len[d_ids]
    for verifier in (gemma, smol):
        v_ids = verifier.tokenize(data)
        v_pieces = [verifier.vocab.pieces[i] for i in v_ids]
        assert b"".join(v_pieces) == data
        cands = set(candidate_positions(starts_d, [token_ends(verifier.vocab.piece_len, v_ids)], len(data)).tolist())
        oov = _direct_oov(d_pieces, v_pieces)
        assert [j + 1 in cands for j in range(len(d_ids) - 1)] == [
            not oov[j] and ends_d[j] < len(data) for j in range(len(d_ids) - 1)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_candidates_start_on_every_models_boundary(text, qwen, gemma, smol):
    data = text.encode()
    limit = complete_utf8_len(data)
    d_ids = qwen.tokenize(data)
    ends_d = token_ends(qwen.vocab.piece_len, d_ids)
    starts_d = ends_d - qwen.vocab.piece_len[d_ids]
    v = [(m, m.tokenize(data[:limit])) for m in (gemma, smol)]
    v_ends = [token_ends(m.vocab.piece_len, ids) for m, ids in v]
    cands = candidate_positions(starts_d, v_ends, limit)
    for j in range(len(d_ids)):
        prefix = data[: starts_d[j]]
        shared = all(
            starts_d[j] == 0 or prefix in {b"".join(m.vocab.pieces[i] for i in ids[:n]) for n in range(len(ids) + 1)}
            for m, ids in v
        )
        assert (j in cands) == (shared and starts_d[j] < limit)
    for (m, ids), ends in zip(v, v_ends):
        starts = ends - m.vocab.piece_len[ids] if ids else ends
        idx = aligned_indices(starts, starts_d[cands])
        for j, i in zip(cands, idx):
            # the aligned token starts exactly where the drafted one does
            assert b"".join(m.vocab.pieces[t] for t in ids[:i]) == data[: starts_d[j]]
