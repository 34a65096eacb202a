"""Choosing one token from logits: greedy, temperature, top-p (nucleus), min-p, banned ids.

One implementation shared by drafting, the single-model baselines and the sampling variant of
SAFE, so every path picks tokens the same way. `draw` is the one place a random number becomes
an index.

Top-p and min-p cut the tempered distribution, in that order (as ollama does; llama.cpp cuts
before its temperature). Left out on purpose: sampling top-k (`top_k` is UniTE's union size;
min-p covers its use), repetition penalties (`penalties`, applied to the logits before they get
here), and any knowledge of which ids are banned or why.
"""

from __future__ import annotations

import numpy as np

from .probs import softmax, top_indices

# Nucleus search starts with this many best tokens and widens only when they do not reach top_p,
# so a peaked 262k-way distribution costs a partition, not a full sort.
_NUCLEUS_START = 64


def draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Index drawn with probability proportional to `probs` (need not be normalized)."""
    cdf = np.cumsum(probs, dtype=np.float64)
    total = cdf[-1] if len(cdf) else 0.0
    if not total > 0:
        raise ValueError("cannot draw from a distribution with no positive mass")
    # side="right" skips zero-probability entries (their cdf equals the previous one).
    i = int(np.searchsorted(cdf, rng.random() * total, side="right"))
    if i >= len(cdf):  # u * total rounded up to total
        i = int(np.flatnonzero(np.asarray(probs) > 0)[-1])
    return i


def top_p_filter(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Keep the minimal set of most likely tokens whose mass reaches top_p; renormalized copy."""
    p = np.asarray(probs, dtype=np.float64)
    if not 0 < top_p:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    total = p.sum()
    if top_p >= 1:
        return p / total
    target = top_p * total
    n = len(p)
    m = min(_NUCLEUS_START, n)
    while True:
        best = top_indices(p, m)
        cum = np.cumsum(p[best])
        if cum[-1] >= target or m == n:
            break
        m = min(n, m * 4)
    keep = min(int(np.searchsorted(cum, target, side="left")) + 1, m)
    out = np.zeros_like(p)
    out[best[:keep]] = p[best[:keep]]
    return out / out.sum()


def min_p_filter(probs: np.ndarray, min_p: float) -> np.ndarray:
    """Keep the tokens at least min_p times as likely as the likeliest one; renormalized copy."""
    p = np.asarray(probs, dtype=np.float64)
    if not 0 <= min_p <= 1:
        raise ValueError(f"min_p must be in [0, 1], got {min_p}")
    out = np.where(p >= min_p * p.max(), p, 0.0)
    return out / out.sum()


def sampler_distribution(logits: np.ndarray, temperature: float, top_p: float = 1.0, min_p: float = 0.0) -> np.ndarray:
    """The distribution a sample is drawn from (temperature > 0): softmax(logits / temperature),
    cut to the top-p nucleus, then to min-p, renormalized. -inf logits get probability 0.

    This is "the sampler's processing" that SAFE's sampling target and proposal are both stated
    in (safe_local.core.speculative); `sample_token` draws from it.
    """
    probs = softmax(logits, temperature)
    if top_p < 1:
        probs = top_p_filter(probs, top_p)
    if min_p > 0:
        probs = min_p_filter(probs, min_p)
    return probs


def sample_token(
    logits: np.ndarray,
    temperature: float,
    top_p: float,
    rng: np.random.Generator,
    banned: np.ndarray | None = None,
    min_p: float = 0.0,
) -> int:
    """One token id from raw logits. temperature == 0 is greedy (argmax, top_p and min_p
    ignored); `banned` (bool mask) ids are set to -inf first and never chosen."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    x = np.asarray(logits)
    if banned is not None:
        if np.all(banned):
            raise ValueError("every token is banned; nothing to sample")
        x = np.where(banned, -np.inf, x)
    if temperature == 0:
        return int(np.argmax(x))
    return draw(sampler_distribution(x, temperature, top_p, min_p), rng)
