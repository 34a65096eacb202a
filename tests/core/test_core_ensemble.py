"""softmax, UniTE top-k union and GaC full union against hand values and naive versions."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safe_local.core import EOG_KEY, GacUnion, Vocab, ensemble, normalize_weights, softmax, unite_union

from .conftest import logits_for, make_vocab, piece_id


def test_one_softmax_in_the_core():
    assert ensemble.softmax is softmax


def test_softmax_is_stable_and_handles_minus_inf():
    p = softmax(np.array([1000.0, 1000.0, -np.inf], dtype=np.float32))
    assert p.tolist() == [0.5, 0.5, 0.0]
    assert softmax(np.array([0.0, np.log(3.0)])).tolist() == pytest.approx([0.25, 0.75])
    assert softmax(np.array([0.0, np.log(3.0)]), temperature=0.5) == pytest.approx([0.1, 0.9])
    rows = softmax(np.array([[0.0, 0.0], [5.0, -np.inf]]))
    assert rows.tolist() == [[0.5, 0.5], [1.0, 0.0]]
    with pytest.raises(ValueError):
        softmax(np.array([-np.inf, -np.inf]))
    with pytest.raises(ValueError):
        softmax(np.array([0.0]), temperature=0)


def _models():
    # A knows " Sofia"; B splits it " So" + "fia" and has two EOG ids.
    a = make_vocab([" Sofia", " Paris", " So"])
    b = make_vocab([" So", "fia", " Paris", " Rome"], n_eog=2)
    return a, b


def test_unite_union_fallback_uses_first_sub_token_logit():
    a, b = _models()
    la = logits_for(a, {" Sofia": 5.0, " Paris": 4.0, 1: 1.0})
    lb = logits_for(b, {" So": 3.0, " Rome": 2.5, 2: 2.0, " Paris": 0.5})
    dist = unite_union([la, lb], [a, b], normalize_weights(None, 2), top_k=3)

    # Drafter's strings first (best first), then B's new ones.
    assert dist.strings == [b" Sofia", b" Paris", EOG_KEY, b" So", b" Rome"]
    want_a = [5.0, 4.0, 1.0, la[piece_id(a, " So")], la[piece_id(a, " Rome"[0])]]
    # B: " Sofia" -> first sub-token " So" (3.0); " Paris" not in B's top-3 -> its own id (0.5);
    # EOG -> best of B's two EOG ids (2.0).
    want_b = [3.0, 0.5, 2.0, 3.0, 2.5]
    assert dist.per_model[0] == pytest.approx(softmax(np.array(want_a)))
    assert dist.per_model[1] == pytest.approx(softmax(np.array(want_b)))
    assert dist.per_model.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert dist.proposed.tolist() == [[True, True, True, False, False], [False, False, True, True, True]]


def test_unite_union_respects_weights():
    a, b = _models()
    la = logits_for(a, {" Sofia": 5.0, " Paris": 4.0})
    lb = logits_for(b, {" Rome": 5.0, " Paris": 4.0})
    vocabs = [a, b]
    for w in ([1.0, 0.0], [0.0, 1.0], [0.8, 0.2]):
        dist = unite_union([la, lb], vocabs, np.array(w), top_k=2)
        assert dist.weights.tolist() == pytest.approx(w)
        assert dist.ensembled == pytest.approx(np.array(w) @ dist.per_model)
    assert unite_union([la, lb], vocabs, np.array([1.0, 0.0]), 2).top(1)[0][0] == b" Sofia"
    assert unite_union([la, lb], vocabs, np.array([0.0, 1.0]), 2).top(1)[0][0] == b" Rome"


def test_unite_union_merges_eog_and_never_lets_excluded_in():
    a, b = _models()
    la = logits_for(a, {0: 50.0, 1: 9.0, " Paris": 1.0})  # BOS (excluded) has the top logit
    lb = logits_for(b, {1: 8.0, 2: 7.0, " Rome": 1.0})  # both EOG ids in B's top-k
    dist = unite_union([la, lb], [a, b], normalize_weights(None, 2), top_k=3)
    assert b"" not in dist.strings
    assert dist.strings.count(EOG_KEY) == 1
    eog = dist.strings.index(EOG_KEY)
    assert dist.top(1)[0][0] == EOG_KEY
    # B's EOG key takes the max of its two EOG logits, not a sum or the first.
    lb_union = np.log(dist.per_model[1]) - np.log(dist.per_model[1][eog]) + 8.0
    assert lb_union[dist.strings.index(b" Rome")] == pytest.approx(1.0)


def test_unite_union_duplicate_keys_take_the_max_logit():
    # Byte fallback b"A" (id 2 + 0x41) and a regular piece "A" are the same string.
    v = make_vocab(["A", "B"])
    byte_a, piece_a = 2 + 0x41, v.n_vocab - 2  # extras come last
    assert v.pieces[byte_a] == v.pieces[piece_a] == b"A" and byte_a != piece_a
    lg = logits_for(v, {byte_a: 2.0, piece_a: 3.0, "B": 3.0})
    dist = unite_union([lg, lg], [v, v], normalize_weights(None, 2), top_k=3)
    assert sorted(dist.strings) == [b"A", b"B"]
    assert dist.per_model[0] == pytest.approx([0.5, 0.5])


def test_unite_union_missing_string_with_no_usable_token_gets_zero():
    a = make_vocab(["xy"])
    b = Vocab([b"", b"q", b"z"], eog_ids=[], tokenize=lambda s: [0])  # maps anything to excluded
    la = logits_for(a, {"xy": 3.0, 1: 2.0})
    lb = np.array([0.0, 1.0, 5.0], dtype=np.float32)
    dist = unite_union([la, lb], [a, b], normalize_weights(None, 2), top_k=2)
    assert dist.strings == [b"xy", EOG_KEY, b"z", b"q"]
    assert dist.per_model[1].tolist()[:2] == [0.0, 0.0]  # first token excluded; B has no EOG
    assert dist.per_model[1].sum() == pytest.approx(1.0)


def test_gac_union_maps_shared_strings_to_one_index():
    a, b = _models()
    g = GacUnion([a, b])
    assert len(g.strings) == len(set(g.strings))
    for s in [b" Paris", b" So", b"x", EOG_KEY]:
        ia = g.index[0][a.pieces.index(s) if s != EOG_KEY else 1]
        ib = g.index[1][b.pieces.index(s) if s != EOG_KEY else 2]
        assert ia == ib and g.strings[ia] == s
    assert g.index[1][1] == g.index[1][2]  # B's two EOG ids share EOG_KEY
    assert g.index[0][0] == g.index[1][0] == -1  # BOS excluded
    assert b"" not in g.strings


def test_gac_distribution_marks_each_models_top_k_strings():
    a, b = _models()
    g = GacUnion([a, b])
    rng = np.random.default_rng(3)
    logits = [rng.normal(size=a.n_vocab).astype(np.float32), rng.normal(size=b.n_vocab).astype(np.float32)]
    for k in (1, 2, 3):
        dist = g.distribution(logits, normalize_weights(None, 2), top_k=k)
        for m, row in enumerate(dist.per_model):
            # Naive reference: the k largest entries of the row, by a full sort.
            expected = set(np.argsort(-row, kind="stable")[:k].tolist())
            assert set(np.flatnonzero(dist.proposed[m]).tolist()) == expected


def _naive_gac(logits, vocabs, w):
    """Dict-based GaC: per model, softmax over non-excluded ids, summed per string."""
    seen: dict[bytes, None] = {}
    for v in vocabs:
        for i in range(v.n_vocab):
            if not v.excluded_mask[i]:
                seen.setdefault(v.key(i))
    strings = list(seen)
    rows = []
    for lg, v in zip(logits, vocabs):
        keep = [i for i in range(v.n_vocab) if not v.excluded_mask[i]]
        e = np.exp(lg[keep].astype(np.float64) - lg[keep].max())
        e /= e.sum()
        mass = dict.fromkeys(strings, 0.0)
        for i, p in zip(keep, e):
            mass[v.key(i)] += p
        rows.append([mass[s] for s in strings])
    rows = np.array(rows)
    return dict(zip(strings, w @ rows)), rows


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1))
def test_gac_matches_naive_implementation(seed):
    a, b = _models()
    c = make_vocab([" Sofia", "fia", "xyz"], n_eog=3)
    vocabs = [a, b, c]
    rng = np.random.default_rng(seed)
    logits = [rng.normal(0, 3, v.n_vocab).astype(np.float32) for v in vocabs]
    w = normalize_weights(rng.uniform(0.1, 1, 3), 3)
    dist = GacUnion(vocabs).distribution(logits, w)
    assert dist.per_model.sum(axis=1) == pytest.approx([1.0] * 3)
    want, _ = _naive_gac(logits, vocabs, w)
    got = dict(zip(dist.strings, dist.ensembled))
    assert got.keys() == want.keys()
    assert np.allclose([got[s] for s in want], list(want.values()), atol=1e-12)


def test_gac_rejects_wrong_logit_sizes():
    a, b = _models()
    g = GacUnion([a, b])
    with pytest.raises(ValueError):
        g.distribution([np.zeros(a.n_vocab), np.zeros(3)], normalize_weights(None, 2))


def test_gac_union_builds_fast_for_real_vocab_sizes():
    rng = np.random.default_rng(0)
    vocabs = []
    for n, salt in [(262_144, b"g"), (151_936, b"q"), (49_152, b"s")]:
        # About half the pieces are shared across models (same byte strings), half private.
        words = rng.integers(0, 200_000, n)
        pieces = [b""] + [
            (b"%d" % w_) if i % 2 else (salt + b"%d" % w_) for i, w_ in enumerate(words[1:].tolist())
        ]
        vocabs.append(Vocab(pieces, eog_ids=[n - 1], tokenize=lambda s: []))
    t0 = time.perf_counter()
    g = GacUnion(vocabs)
    build = time.perf_counter() - t0
    logits = [rng.normal(size=v.n_vocab).astype(np.float32) for v in vocabs]
    t0 = time.perf_counter()
    dist = g.distribution(logits, normalize_weights(None, 3))
    step = time.perf_counter() - t0
    assert dist.per_model.sum(axis=1) == pytest.approx([1.0] * 3)
    assert build < 3.0 and step < 0.5, (build, step)
