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


def test_a_lone_space_never_absorbs():
    # " " would take " the" and " a" (0.25 + 0.2) and beat " the"; the authors' code skips it.
    d = _dist([b" ", b" the", b" a", b"\n"], [[0.3, 0.25, 0.2, 0.25]])
    scores = heuristic(d, np.ones(4, dtype=bool))
    assert scores.tolist() == pytest.approx([0.3, 0.25, 0.2, 0.25])
    # A longer whitespace string still absorbs its extensions.
    d = _dist([b"  ", b"  x", b"y"], [[0.3, 0.3, 0.4]])
    assert heuristic(d, np.ones(3, dtype=bool)).tolist() == pytest.approx([0.6, 0.3, 0.4])


def _authors_heuristic(strings, rows, drafter_top, pool, lam):
    """The authors' GaC rule written out for two models with equal weights: on the *summed*
    rows, each union entry above 2 * lam that is in the drafter's top-10 (and not " ") gains the
    summed mass of every other entry of the top-10 pool that starts with it."""
    merged = [rows[0][i] + rows[1][i] for i in range(len(strings))]
    out = list(merged)
    for i, s in enumerate(strings):
        if merged[i] > 2 * lam and i in drafter_top and s != b" ":
            for j in pool:
                if j != i and strings[j].startswith(s):
                    out[i] += merged[j]
    return [x / 2 for x in out]  # back to the mean's scale


def test_heuristic_uses_only_top_k_strings_like_the_authors():
    # " S" is in the drafter's top-2; " So" only in the verifier's; " Sofia" in nobody's top-2
    # (a GaC union holds every string), so it is not absorbed.
    strings = [b" S", b" So", b" Sofia", b" Paris", b" Rome"]
    rows = [[0.35, 0.05, 0.30, 0.30, 0.00], [0.05, 0.40, 0.02, 0.13, 0.40]]
    proposed = np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 1]], dtype=bool)
    d = UnionDistribution(strings=strings, per_model=np.array(rows), weights=np.array([0.5, 0.5]),
                          proposed=proposed)
    scores = heuristic(d, proposed[0], lam=0.1)
    expected = _authors_heuristic(strings, rows, drafter_top={0, 3}, pool={0, 1, 3, 4}, lam=0.1)
    assert scores.tolist() == pytest.approx(expected)
    assert scores[0] == pytest.approx(0.2 + 0.225)  # " S" took " So" but not " Sofia"


def test_heuristic_on_a_gac_sized_union_is_fast():
    rng = np.random.default_rng(0)
    n = 400_000
    strings = [b"w%d" % i for i in range(n)]
    p = rng.dirichlet(np.full(n, 0.01))
    proposed = np.zeros((1, n), dtype=bool)
    proposed[0, np.argsort(-p)[:10]] = True
    d = UnionDistribution(strings=strings, per_model=p[None, :], weights=np.ones(1), proposed=proposed)
    t0 = time.perf_counter()
    heuristic(d, proposed[0])
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


def test_heuristic_word_absorbs_only_across_a_word_boundary():
    # The loop onset of issue 14: " The" (.2) would take " Therefore" (.3) and beat it; by word
    # boundaries it takes only " The " and " The," (whole words after it). Numbers and letters
    # of other scripts (UTF-8 bytes) are words too. By hand, lambda 0.04:
    strings = [b" The", b" Therefore", b" The ", b" The,", b" 1", b" 12",
               "\u00e9".encode(), "\u00e9t\u00e9".encode(), b"x"]
    d = _dist(strings, [[0.20, 0.30, 0.10, 0.10, 0.12, 0.08, 0.05, 0.03, 0.02]])
    mask = np.ones(len(strings), dtype=bool)
    plain = heuristic(d, mask, lam=0.04)
    assert plain.tolist() == pytest.approx([0.70, 0.30, 0.10, 0.10, 0.20, 0.08, 0.08, 0.03, 0.02])
    by_words = heuristic(d, mask, lam=0.04, words=True)
    assert by_words.tolist() == pytest.approx([0.40, 0.30, 0.10, 0.10, 0.12, 0.08, 0.05, 0.03, 0.02])
    assert strings[int(np.argmax(by_words))] == b" The"  # still: its whole-word extensions count
    d = _dist(SOFIA, [[0.15, 0.20, 0.25, 0.40]])  # the paper's case is a split word: no credit
    assert heuristic(d, np.ones(4, dtype=bool), words=True).tolist() == pytest.approx([0.15, 0.20, 0.25, 0.40])
    scores, applied = sharpen(d, "heuristic-word", np.ones(4, dtype=bool))
    assert applied and scores.tolist() == pytest.approx([0.15, 0.20, 0.25, 0.40])


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
