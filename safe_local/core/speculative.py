"""The sampling variant of SAFE (paper App. H): speculative-sampling accept/resample.

When tokens are sampled instead of picked greedily, "the drafted token is the ensemble's argmax"
is no longer the goal; the goal is that emitted tokens are distributed exactly as P_ens. The
standard speculative-sampling rule does that: accept the drafted token with probability
min(1, P_ens/P_draft), otherwise draw from the normalized residual max(0, P_ens - P_draft).

Left out on purpose: building the two distributions over a common support (the engine maps both
onto union indices with `ensemble`) and drawing the drafted token itself (`sampling`).
"""

from __future__ import annotations

import numpy as np

from .sampling import draw


def accept_or_resample(
    p_ens: np.ndarray, p_draft: np.ndarray, drafted: int, rng: np.random.Generator
) -> tuple[int, bool]:
    """Accept `drafted` with prob min(1, p_ens[drafted]/p_draft[drafted]), else draw from
    normalize(max(0, p_ens - p_draft)) (p_ens if that residual is all zero).
    Returns (index, accepted). Both inputs are distributions over the same indices."""
    p_ens = np.asarray(p_ens, dtype=np.float64)
    p_draft = np.asarray(p_draft, dtype=np.float64)
    if p_ens.shape != p_draft.shape:
        raise ValueError(f"supports differ: {p_ens.shape} vs {p_draft.shape}")
    q = p_draft[drafted]
    # q == 0 means the drafter could not have proposed it; keep it only if the ensemble can.
    if q <= 0:
        accept_prob = 1.0 if p_ens[drafted] > 0 else 0.0
    else:
        accept_prob = min(1.0, p_ens[drafted] / q)
    if rng.random() < accept_prob:
        return int(drafted), True
    residual = np.maximum(p_ens - p_draft, 0.0)
    if not residual.sum() > 0:
        residual = p_ens
    return draw(residual, rng), False
