"""top_indices against a naive full sort: the same indices in the same order, ties by index."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safe_local.core import top_indices


def naive_top(values: np.ndarray, n: int) -> list[int]:
    return sorted(range(len(values)), key=lambda i: (-float(values[i]), i))[:n]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40),
       size=st.sampled_from([1, 7, 255, 256, 257, 5_000, 20_011, 70_000]),
       kind=st.sampled_from(["logits", "ties", "masked", "flat-top"]))
def test_top_indices_equals_a_full_sort(seed, n, size, kind):
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal(size) * 4).astype(np.float32)
    if kind == "ties":  # many equal values, also at the n-th place
        values = np.round(values)
    elif kind == "masked":  # excluded tokens at -inf, some rows with fewer than n finite
        values[rng.random(size) < 0.9] = -np.inf
    elif kind == "flat-top":  # more than n entries share the maximum
        values[rng.integers(0, size, size=min(size, 3 * n))] = values.max() + 1
    assert top_indices(values, n).tolist() == naive_top(values, n)


def test_top_indices_of_a_real_sized_row_by_hand():
    values = np.zeros(262_144, dtype=np.float32)
    values[[5, 200_000, 77, 262_143]] = [3.0, 9.0, 3.0, -1.0]
    assert top_indices(values, 3).tolist() == [200_000, 5, 77]
    assert top_indices(values, 0).tolist() == []
    assert top_indices(values[:2], 5).tolist() == [0, 1]
