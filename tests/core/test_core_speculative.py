"""The sampling variant's pieces: the acceptance test emits its target exactly, the drafter-only
bound never exceeds the target, and the case where no such bound exists (UniTE's union)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from safe_local.core import (
    Vocab,
    accept_or_resample,
    acceptance,
    proven_share,
    residual,
    sampler_distribution,
    unite_union,
)

weights = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=8)


def _dist(raw: list[float]) -> np.ndarray:
    x = np.asarray(raw, dtype=np.float64)
    assume(x.sum() > 1e-6)
    return x / x.sum()


@given(weights, weights, st.floats(0.0, 1.0))
def test_keep_or_redraw_emits_the_target_exactly(p_raw, q_raw, outside):
    """sum over drafted t of q(t) * [t kept] + (everything not kept) * residual == P*, string by string,
    also when the proposal puts some of its mass outside the target's strings (always replaced)."""
    n = min(len(p_raw), len(q_raw))
    p, q = _dist(p_raw[:n]), _dist(q_raw[:n]) * (1 - outside)
    kept = np.array([q[t] * acceptance(p[t], q[t]) for t in range(n)])
    emitted = kept + (1 - kept.sum()) * residual(p, q)
    np.testing.assert_allclose(emitted, p, atol=1e-9)


@given(weights, weights, st.integers(0, 7), st.floats(0.0, 0.999999))
def test_the_test_keeps_exactly_when_u_q_is_at_most_the_target(p_raw, q_raw, t, u):
    n = min(len(p_raw), len(q_raw))
    p, q = _dist(p_raw[:n]), _dist(q_raw[:n])
    t = t % n
    index, kept = accept_or_resample(p, q, t, np.random.default_rng(0), u=u)
    assert kept == (u * q[t] <= p[t] and (q[t] > 0 or p[t] > 0))
    assert (index == t) if kept else (p[index] > q[index] or not (p > q).any())


@given(weights, st.integers(0, 7), st.floats(0.0, 1.0), st.floats(0.05, 1.0), st.floats(0.5, 1.0),
       st.floats(0.0, 0.3))
def test_the_drafter_only_bound_never_exceeds_the_target(p_raw, s, fraction, temperature, top_p, min_p):
    """proven_share(share) <= S(P)(s) for every P with P(s) >= share: the bound is safe to accept on."""
    p = _dist(p_raw)
    s = s % len(p)
    share = p[s] * fraction
    with np.errstate(divide="ignore"):
        target = sampler_distribution(np.log(p), temperature, top_p, min_p)
    assert proven_share(share, temperature, top_p, min_p) <= target[s] + 1e-12


def test_the_bound_hand_computed():
    assert proven_share(0.3, 1.0) == pytest.approx(0.3)  # at temperature 1, P* >= P >= share
    assert proven_share(0.5, 0.5) == pytest.approx(0.25)  # share ** (1 / temperature)
    assert proven_share(0.9, 1.5) == 0.0  # above temperature 1 no bound survives the flattening
    assert proven_share(0.04, 1.0, top_p=0.95) == 0.0  # 0.04 <= 1 - 0.95: the nucleus may cut it
    assert proven_share(0.04, 1.0, min_p=0.05) == 0.0  # min-p may cut it
    assert proven_share(0.2, 1.0, top_p=0.95, min_p=0.05) == pytest.approx(0.2)


def test_no_drafter_only_bound_holds_over_unites_union():
    """UniTE renormalizes each model over a few strings, scoring a string the drafter lacks by its
    first sub-token: " S" then counts three times in the drafter's row, whose share of " S" falls
    far below the drafter's own probability. So proven_share is never applied with UniTE."""
    pieces = [b" S", b" x", b" y"]
    drafter = Vocab(pieces, [], lambda text: [0] if text.startswith(b" S") else [1])
    verifier = Vocab([b" So", b" Sofia", b" S"], [], lambda text: [2])
    logits = [np.log(np.array([0.9, 0.05, 0.05])), np.log(np.array([0.5, 0.4, 0.1]))]
    dist = unite_union(logits, [drafter, verifier], np.array([0.5, 0.5]), top_k=3)
    share = dist.per_model[0][dist.strings.index(b" S")]
    assert share < 0.4 < 0.9
