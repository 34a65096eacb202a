"""Logits to probabilities: the one softmax of the core.

Numerically stable (max subtracted, computed in float64 so 262k-way distributions sum to 1
to ~1e-15). Works on a single vector or row-wise on a 2-D array; -inf logits get probability 0.

Left out on purpose: temperature 0 (greedy is an argmax, see `sampling`), top-p, and any masking
policy; callers set banned or excluded logits to -inf first.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) along the last axis, as float64."""
    if not temperature > 0:
        raise ValueError(f"softmax needs a positive temperature, got {temperature}")
    x = np.array(logits, dtype=np.float64)  # always a copy: we work in place below
    if temperature != 1.0:
        x /= temperature
    m = np.max(x, axis=-1, keepdims=True)
    if not np.all(np.isfinite(m)):
        raise ValueError("softmax needs at least one finite logit per row and no +inf/NaN")
    x -= m
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first, without sorting the whole array."""
    n = min(n, len(values))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    best = np.argpartition(-values, n - 1)[:n] if n < len(values) else np.arange(len(values))
    return best[np.argsort(-values[best], kind="stable")]
