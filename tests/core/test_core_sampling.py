"""Token choice (greedy, temperature, top-p, banned) and speculative accept/resample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local.core import accept_or_resample, sample_token, softmax, top_p_filter
from safe_local.core.sampling import draw

# 99.9th percentile of chi-square: a correct sampler fails a test with probability 1e-3 per seed,
# and the seeds are fixed, so these tests are deterministic.
CHI2_999 = {3: 16.27, 4: 18.47, 7: 24.32}


def _chi2(counts: np.ndarray, p: np.ndarray) -> float:
    expected = counts.sum() * p
    keep = expected > 0
    assert counts[~keep].sum() == 0, "drew an index of probability 0"
    return float((((counts - expected) ** 2)[keep] / expected[keep]).sum())


def test_temperature_zero_is_argmax_and_respects_banned():
    rng = np.random.default_rng(0)
    logits = np.array([1.0, 5.0, 3.0, 4.9], dtype=np.float32)
    assert sample_token(logits, 0.0, 0.5, rng) == 1
    banned = np.array([False, True, False, False])
    assert sample_token(logits, 0.0, 1.0, rng, banned=banned) == 3
    with pytest.raises(ValueError, match="every token is banned"):
        sample_token(logits, 0.0, 1.0, rng, banned=np.ones(4, dtype=bool))


def test_banned_tokens_are_never_sampled_and_frequencies_follow_softmax():
    rng = np.random.default_rng(1)
    logits = np.array([2.0, 9.0, 1.0, 0.0, 1.5, 0.5], dtype=np.float32)
    banned = np.array([False, True, False, False, False, False])
    counts = np.bincount(
        [sample_token(logits, 0.8, 1.0, rng, banned=banned) for _ in range(20_000)], minlength=6
    )
    assert counts[1] == 0
    p = softmax(np.where(banned, -np.inf, logits), temperature=0.8)
    assert _chi2(counts, p) < CHI2_999[4]  # 5 allowed cells: 4 degrees of freedom


probs_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=300).filter(lambda x: sum(x) > 0)


@given(probs_lists, st.floats(0.01, 1.0))
def test_top_p_keeps_the_minimal_nucleus(raw, top_p):
    p = np.array(raw) / sum(raw)
    out = top_p_filter(p, top_p)
    kept = out > 0
    assert out.sum() == pytest.approx(1.0)
    assert out[kept] == pytest.approx(p[kept] / p[kept].sum())
    # Kept tokens are the most likely ones, their mass reaches top_p, and dropping the least
    # likely kept token would fall short: the nucleus is minimal.
    if (~kept).any():
        assert p[kept].min() >= p[~kept].max()
    mass = p[kept].sum()
    assert mass >= top_p * p.sum() - 1e-9
    assert mass - p[kept].min() < top_p * p.sum() + 1e-9


def test_top_p_widens_past_the_first_block_and_top_p_one_keeps_everything():
    p = np.full(1000, 1 / 1000)
    assert (top_p_filter(p, 0.5) > 0).sum() == 500
    q = np.array([0.5, 0.0, 0.5])
    assert top_p_filter(q, 1.0).tolist() == q.tolist()


def test_top_p_sampling_only_draws_from_the_nucleus():
    rng = np.random.default_rng(2)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    draws = {sample_token(logits, 1.0, 0.7, rng) for _ in range(2000)}
    assert draws == {0, 1}


def test_draw_skips_zero_probabilities():
    rng = np.random.default_rng(3)
    p = np.array([0.0, 0.25, 0.0, 0.75, 0.0])
    counts = np.bincount([draw(p, rng) for _ in range(10_000)], minlength=5)
    assert counts[[0, 2, 4]].sum() == 0
    assert _chi2(counts, p) < CHI2_999[3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accept_or_resample_outputs_the_ensemble_distribution(seed):
    rng = np.random.default_rng(seed)
    n = 8
    p_ens = rng.dirichlet(np.ones(n))
    p_draft = rng.dirichlet(np.ones(n) * 0.5)
    p_ens[0] = 0.0  # a string the ensemble rules out must never come out
    p_ens /= p_ens.sum()
    draws = 20_000
    out = np.empty(draws, dtype=np.int64)
    accepted = 0
    for t in range(draws):
        drafted = draw(p_draft, rng)
        out[t], ok = accept_or_resample(p_ens, p_draft, drafted, rng)
        accepted += ok
    counts = np.bincount(out, minlength=n)
    assert _chi2(counts, p_ens) < CHI2_999[7]
    # Acceptance rate of speculative sampling is sum(min(p_ens, p_draft)).
    assert accepted / draws == pytest.approx(np.minimum(p_ens, p_draft).sum(), abs=0.02)


def test_accept_or_resample_edge_cases():
    rng = np.random.default_rng(4)
    p = np.array([0.2, 0.8])
    # Identical distributions: always accepted (residual would be all zero).
    assert all(accept_or_resample(p, p, 1, rng) == (1, True) for _ in range(100))
    # Drafter put no mass on the drafted index and the ensemble neither: always rejected.
    idx, ok = accept_or_resample(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0, rng)
    assert (idx, ok) == (1, False)
    with pytest.raises(ValueError):
        accept_or_resample(np.ones(2) / 2, np.ones(3) / 3, 0, rng)
