"""C1/C2 consensus and Theorem 1: passing the check means the drafted token is the argmax."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from safe_local.core import (
    Consensus,
    c2_settled,
    check,
    drafter_decides,
    drafter_keeps,
    normalize_weights,
    verifiers_sure,
)


def test_normalize_weights():
    assert normalize_weights(None, 4).tolist() == [0.25] * 4
    assert normalize_weights([2, 1, 1], 3).tolist() == [0.5, 0.25, 0.25]
    assert normalize_weights([0, 3], 2).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="expected 3 model weights"):
        normalize_weights([1, 1], 3)
    with pytest.raises(ValueError, match="non-negative"):
        normalize_weights([1, -1], 2)
    with pytest.raises(ValueError, match="all zero"):
        normalize_weights([0, 0], 2)
    with pytest.raises(ValueError, match="finite"):
        normalize_weights([1, float("nan")], 2)


def _passed(c: Consensus) -> bool:
    return bool(c.c1) or c.c2 > 0.5


def test_check_values():
    w = normalize_weights(None, 3)
    c = check(np.array([0.9, 0.3, 0.3]), np.array([True, True]), w)
    assert c.c1 and c.c2 == pytest.approx(0.5) and _passed(c)
    c = check(np.array([0.9, 0.3, 0.3]), np.array([True, False]), w)
    assert c.c1 is False and not _passed(c)  # c2 == 0.5 is not > 1/2
    c = check(np.array([0.9, 0.6, 0.3]), np.array([False, False]), w)
    assert c.c2 == pytest.approx(0.6) and _passed(c)
    # C1 left unchecked (sampling): said as such, not as failed.
    c = check(np.array([0.2, 0.2]), np.array([True]), normalize_weights(None, 2), use_c1=False)
    assert c.c1 is None and c.c2 == pytest.approx(0.2)
    with pytest.raises(ValueError):
        check(np.array([0.5, 0.5]), np.array([True, True]), normalize_weights(None, 2))


def test_failing_both_checks_can_change_the_argmax():
    # Drafter prefers token 0 mildly; both verifiers strongly prefer token 1.
    P = np.array([[0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    w = normalize_weights(None, 3)
    c = check(P[:, 0], np.argmax(P[1:], axis=1) == 0, w)
    assert not _passed(c)
    assert np.argmax(w @ P) == 1


@st.composite
def ensembles(draw):
    k = draw(st.integers(2, 4))
    n = draw(st.integers(2, 8))
    unit = st.floats(0.0, 1.0, allow_nan=False)
    raw = np.array(draw(st.lists(st.lists(unit, min_size=n, max_size=n), min_size=k, max_size=k)))
    # Extra mass on token 0 for some models makes agreement (and so a passing check) common
    # enough that `assume` keeps most examples, while argmax patterns still vary.
    raw[:, 0] += np.array(draw(st.lists(st.floats(0.0, float(n)), min_size=k, max_size=k)))
    raw = raw + 1e-6
    P = raw / raw.sum(axis=1, keepdims=True)
    w = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k)))
    return P, normalize_weights(w, k)


@given(ensembles(), st.booleans())
def test_theorem1_passing_check_means_drafted_token_is_ensemble_argmax(case, use_c1):
    P, w = case
    drafted = int(np.argmax(P[0]))  # greedy drafter
    c = check(P[:, drafted], np.argmax(P[1:], axis=1) == drafted, w, use_c1=use_c1)
    assume(_passed(c))
    avg = w @ P
    assert avg[drafted] >= avg.max() - 1e-12


def test_drafter_decides_hand_computed():
    w411 = normalize_weights([4, 1, 1], 3)  # the drafter weighs 2/3
    assert drafter_decides(0.76, w411) and not drafter_decides(0.75, w411)  # 2/3 * 0.75 = 0.5 is not > 1/2
    assert not drafter_decides(1.0, normalize_weights([2, 1, 1], 3))  # 1/2 * 1 never exceeds 1/2
    assert not drafter_decides(1.0, normalize_weights(None, 2))
    assert drafter_decides(0.9, normalize_weights([2, 1], 2), threshold=0.55)  # 2/3 * 0.9 = 0.6


@settings(suppress_health_check=[HealthCheck.filter_too_much])  # most draws are not decided by the drafter
@given(
    st.floats(2, 200),  # a drafter weighed heavily, so that it often decides alone
    st.lists(st.floats(0.01, 10), min_size=1, max_size=4),
    st.floats(0.3, 1.0),
    st.floats(0.05, 0.95),
    st.data(),
)
def test_drafter_decides_only_where_c2_passes_for_any_verifier(drafter_weight, others, p0, threshold, data):
    raw = [drafter_weight, *others]
    w = normalize_weights(raw, len(raw))
    assume(drafter_decides(p0, w, threshold))
    verifiers = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(raw) - 1, max_size=len(raw) - 1))
    agrees = data.draw(st.lists(st.booleans(), min_size=len(raw) - 1, max_size=len(raw) - 1))
    cons = check(np.array([p0, *verifiers]), np.array(agrees), w, use_c1=data.draw(st.booleans()))
    assert cons.c2 > threshold  # the worst case, every verifier at 0, included


@given(st.lists(st.floats(0.01, 10), min_size=2, max_size=5), st.floats(0.0, 1.0), st.floats(0.05, 0.95))
def test_drafter_decides_whenever_zero_verifiers_would_pass(raw, p0, threshold):
    # The converse: it misses no position the drafter alone decides (compared with check itself
    # with every verifier at probability 0, the least the verifiers can add).
    w = normalize_weights(raw, len(raw))
    alone = check(np.array([p0] + [0.0] * (len(raw) - 1)), np.zeros(len(raw) - 1, bool), w).c2 > threshold
    assert drafter_decides(p0, w, threshold) == alone


def test_c2_settled_hand_computed():
    w = normalize_weights(None, 3)  # the paper's three equal weights
    assert c2_settled([0.99, 0.6], w[:2])  # (0.99 + 0.6) / 3 = 0.53: the third model cannot undo it
    assert not c2_settled([0.99, 0.5], w[:2])  # 0.497: the third model's vote is still needed
    assert not c2_settled([0.75, 0.75], w[:2])  # exactly 1/2 is not above it
    w411 = normalize_weights([4, 1, 1], 3)
    assert c2_settled([0.7, 0.21], [w411[0], w411[2]])  # 2/3 * 0.7 + 1/6 * 0.21 = 0.5017
    assert not c2_settled([0.7, 0.2], [w411[0], w411[2]])  # 0.5 exactly: Gemma must be asked


@given(
    st.lists(st.floats(0.01, 10), min_size=2, max_size=5),
    st.floats(0.05, 0.95),
    st.data(),
)
def test_c2_settled_only_where_c2_passes_for_any_remaining_model(raw, threshold, data):
    # Some models have spoken (drafter first, the rest in any order); whatever the others would
    # say, the full check must pass wherever c2_settled said so on the shares known.
    k = len(raw)
    w = normalize_weights(raw, k)
    order = [0] + data.draw(st.permutations(range(1, k)))
    asked = order[: data.draw(st.integers(1, k))]
    p = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
    if c2_settled(p[asked], w[asked], threshold):
        rest = [m for m in range(k) if m not in asked]
        p[rest] = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(rest), max_size=len(rest)))
        agrees = np.array(data.draw(st.lists(st.booleans(), min_size=k - 1, max_size=k - 1)))
        assert check(p, agrees, w, use_c1=data.draw(st.booleans())).c2 > threshold
    else:  # and it misses nothing beyond its rounding margin: the others at 0 would not pass by more
        p[[m for m in range(k) if m not in asked]] = 0.0
        assert check(p, np.zeros(k - 1, bool), w).c2 <= threshold + 1e-9


def test_drafter_keeps_hand_computed():
    assert drafter_keeps(0.5, 0.5) and drafter_keeps(0.93, 0.5) and not drafter_keeps(0.49, 0.5)
    assert not drafter_keeps(1.0, 1.0)  # a gate of 1 is no gate, even for a saturated softmax
    assert not drafter_keeps(1.0, 2.0)


@given(st.floats(0.0, 1.0), st.floats(0.01, 1.0))
def test_drafter_keeps_exactly_the_authors_gate(p0, gate):
    # The authors' GaC + SAFE ensembles only where `draft_prob < 0.5`: kept is its negation.
    assert drafter_keeps(p0, gate) == (gate < 1 and not p0 < gate)


@pytest.mark.parametrize("tops, beta, drafter_top, sure", [
    ([0.2, 0.3], 0.0, None, True),  # no condition
    ([0.2, 0.3], 0.5, None, False),  # both verifiers unsure: the drafted token stands
    ([0.2, 0.7], 0.7, None, True),  # at least beta, one verifier is enough
    ([0.69999, 0.2], 0.7, None, False),
    ([0.8, 0.2], 0.7, 0.9, False),  # sure, but less than the drafter
    ([0.8, 0.95], 0.7, 0.9, True),
    ([0.6, 0.2], 0.0, 0.5, True),  # beating the drafter alone
    ([0.4, 0.2], 0.0, 0.5, False),
])
def test_verifiers_sure_by_hand(tops, beta, drafter_top, sure):
    assert verifiers_sure(tops, beta, drafter_top) is sure


@given(st.lists(st.floats(0, 1), min_size=1, max_size=4), st.floats(0, 1), st.floats(0, 1))
def test_verifiers_sure_is_monotone_and_matches_a_naive_reading(tops, beta, higher):
    naive = max(tops) >= beta
    assert verifiers_sure(tops, beta) is naive
    if verifiers_sure(tops, max(beta, higher)):  # surer than a higher bar is surer than a lower one
        assert verifiers_sure(tops, beta)
    assert not verifiers_sure(tops, beta, drafter_top=max(tops))  # no verifier above the drafter
