"""Probability sharpening: heuristic prefix consolidation, geometric mean, threshold gating."""

from __future__ import annotations

import time

import numpy as np
import pytest

from safe_local.core import EOG_KEY, UnionDistribution, geometric, heuristic, sharpen


def _dist(strings, rows, weights=None):
    rows = np.array(rows, dtype=np.float64)
    w = np.full(len(rows), 1 / len(rows)) if weights is None else np.array(weights, dtype=np.float64)
    return UnionDistribution(strings=list(strings), per_model=rows, weights=w)


SOFIA = [b" S", b" So", b" Sofia", b" Paris"]


def test_heuristic_consolidates_extensions_into_their_prefix():
    # Ensemble: " S" .15, " So" .20, " Sofia" .25, " Paris" .40 -> argmax " Paris" before sharpening.
    d = _dist(SOFIA, [[0.15, 0.20, 0.25, 0.40]])
    scores = heuristic(d, np.ones(4, dtype=bool), lam=0.1)
    assert scores.tolist() == pytest.approx([0.15 + 0.20 + 0.25, 0.20 + 0.25, 0.25, 0.40])
    assert SOFIA[int(np.argmax(scores))] == b" S"


def test_heuristic_only_boosts_drafter_strings_above_lambda():
    d = _dist(SOFIA, [[0.05, 0.20, 0.35, 0.40]])
    # " S" is below lambda: nothing added to it; " So" gets " Sofia".
    assert heuristic(d, np.ones(4, dtype=bool)).tolist() == pytest.approx([0.05, 0.55, 0.35, 0.40])
    # " So" is not the drafter's: nothing changes. The three input forms agree.
    expected = [0.05, 0.20, 0.35, 0.40]
    assert heuristic(d, np.array([True, False, True, True])).tolist() == pytest.approx(expected)
    assert heuristic(d, {b" S", b" Sofia", b" Paris"}).tolist() == pytest.approx(expected)
    assert heuristic(d, np.array([0, 2, 3])).tolist() == pytest.approx(expected)


def test_eog_key_is_never_a_prefix_or_an_extension():
    # A byte-level piece b"\xff" is a byte prefix of EOG_KEY, but EOG is not text.
    d = _dist([b"\xff", EOG_KEY, b"a"], [[0.3, 0.4, 0.3]])
    assert heuristic(d, np.ones(3, dtype=bool)).tolist() == pytest.approx([0.3, 0.4, 0.3])


def test_heuristic_on_a_gac_sized_union_is_fast():
    rng = np.random.default_rng(0)
    n = 400_000
    strings = [b"w%d" % i for i in range(n)]
    p = rng.dirichlet(np.full(n, 0.01))
    d = _dist(strings, [p])
    t0 = time.perf_counter()
    heuristic(d, np.ones(n, dtype=bool))
    assert time.perf_counter() - t0 < 0.5


def test_geometric_mean_by_hand():
    rows = [[0.5, 0.3, 0.2, 0.0], [0.2, 0.2, 0.3, 0.3]]
    d = _dist(["a", "b", "c", "d"], rows)
    raw = np.sqrt(np.array(rows[0]) * np.array(rows[1]))
    assert geometric(d) == pytest.approx(raw / raw.sum())
    assert geometric(d)[3] == 0.0  # one model gives it 0

    d = _dist(["a", "b", "c", "d"], rows, weights=[0.75, 0.25])
    raw = np.array(rows[0]) ** 0.75 * np.array(rows[1]) ** 0.25
    assert geometric(d) == pytest.approx(raw / raw.sum())

    # A zero-weight model does not veto strings.
    d = _dist(["a", "b"], [[0.4, 0.6], [1.0, 0.0]], weights=[1.0, 0.0])
    assert geometric(d) == pytest.approx([0.4, 0.6])


def test_geometric_without_common_support_falls_back_to_the_average():
    d = _dist(["a", "b"], [[1.0, 0.0], [0.0, 1.0]])
    assert geometric(d).tolist() == pytest.approx([0.5, 0.5])


def test_sharpen_is_gated_by_threshold_and_mode():
    flat = _dist(SOFIA, [[0.15, 0.20, 0.25, 0.40]])
    sure = _dist(SOFIA, [[0.05, 0.05, 0.30, 0.60]])
    mask = np.ones(4, dtype=bool)

    scores, applied = sharpen(flat, "heuristic", mask)
    assert applied and scores.tolist() == pytest.approx(heuristic(flat, mask).tolist())
    scores, applied = sharpen(sure, "heuristic", mask)
    assert not applied and scores.tolist() == pytest.approx(sure.ensembled.tolist())
    scores, applied = sharpen(flat, "heuristic", mask, threshold=0.4)
    assert not applied  # max == threshold is confident enough
    scores, applied = sharpen(flat, "none", mask)
    assert not applied and scores.tolist() == pytest.approx(flat.ensembled.tolist())
    scores, applied = sharpen(flat, "geometric", mask)
    assert applied and scores.tolist() == pytest.approx(geometric(flat).tolist())
    with pytest.raises(ValueError, match="unknown sharpening mode"):
        sharpen(flat, "cubic", mask)
