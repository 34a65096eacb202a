"""SAFE's skip test: is the drafted token already what the ensemble would pick?

At a candidate position each model m has an aligned token (its own token starting at the same
offset) and p_m, the probability it gives that token. SAFE skips ensembling when
    C1: every verifier's argmax is its aligned token, or
    C2: sum_m w_m p_m > 1/2 (all models, drafter included, weights summing to 1).
With a greedy drafter either condition makes the drafted token the argmax of the weighted
average distribution (paper Theorem 1), so skipping costs nothing.

C2 can often be decided before every verifier is asked: every p_m is at least 0, so once the
weighted shares of the models asked so far exceed the threshold, the sum does too whatever
the others would say (`c2_settled`). When the drafter's own share w_0 p_0 does
(`drafter_decides`) no verifier logits are needed at all; otherwise the engine asks the cheapest
verifier first and a dearer one only where the shares so far leave C2 open.

The authors' GaC + SAFE adds a gate: a position is ensembled only where the drafter's own
probability is below 0.5, whatever the verifiers say (`drafter_keeps`). That too is decided by
the drafter alone. Greedy, that probability is the drafted token's, which is the drafter's
largest; under sampling the gate reads the largest one as well (GaC's own gate is on the primary
model's top probability), so it is a property of the position, not of the sampled token, and the
position's target is stated before the draw (safe_local.core.speculative).

A third condition, off by default, comes from CoSD (Collaborative Speculative Decoding, ICML
2025), whose rule replaces the drafter's token with an assistant's only where the
drafter is unsure and the assistant is sure: at a position that passes neither C1 nor C2 and that
the gate lets through, SAFE ensembles only where some verifier gives its own most likely token at
least beta (`verifiers_sure`), and, as an option, more than the drafter gives its own most likely
token; otherwise the drafted token stands. Small verifiers that know nothing at a position (flat
rows) then cannot tip the drafter at a semantic fork. It reads each verifier's own row, never the
drafted token, so under sampling it too is a property of the position, and the target there is
the drafter's own distribution (safe_local.core.speculative). It needs every verifier's row, so it
settles nothing early; C2's early acceptance is unchanged (a position C2 passes is kept either way).

Left out on purpose: finding the aligned tokens and reading their probabilities (the engine
does that with `alignment`), and the ensemble itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Consensus:
    c1: bool | None  # every verifier's argmax equals its aligned token (None: not checked)
    c2: float  # weighted mean of the aligned-token probabilities over all models (drafter included)


def normalize_weights(weights: Sequence[float] | np.ndarray | None, k: int) -> np.ndarray:
    """Model weights as a float64 array of length k summing to 1 (equal weights if None)."""
    if weights is None:
        return np.full(k, 1.0 / k)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (k,):
        raise ValueError(f"expected {k} model weights (one per model), got {w.size}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"model weights must be finite and non-negative, got {w.tolist()}")
    total = w.sum()
    if total <= 0:
        raise ValueError("model weights are all zero; at least one model needs a positive weight")
    return w / total


def check(
    aligned_probs: np.ndarray,
    verifier_argmax_agrees: np.ndarray,
    weights: np.ndarray,
    use_c1: bool = True,
) -> Consensus:
    """Evaluate C1 and C2 at one candidate position.

    aligned_probs: (k,) probability each model gives its aligned token, drafter first.
    verifier_argmax_agrees: (k-1,) bool, verifier's argmax == its aligned token.
    weights: (k,) normalized weights. use_c1=False leaves C1 unchecked (c1 None): an argmax
    agreement says nothing about a sampled token (paper App. H; sampled SAFE uses neither test,
    see `speculative`).
    """
    p = np.asarray(aligned_probs, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    agrees = np.asarray(verifier_argmax_agrees, dtype=bool)
    if p.shape != w.shape:
        raise ValueError(f"{p.size} aligned probabilities but {w.size} weights")
    if agrees.size != p.size - 1:
        raise ValueError(f"expected {p.size - 1} verifier agreements, got {agrees.size}")
    return Consensus(c1=bool(np.all(agrees)) if use_c1 else None, c2=float(w @ p))


# How far the known shares must clear the threshold. Adding non-negative terms never lowers an
# exact sum, but `check`'s dot product may round in another order (or fuse a multiply-add) than
# the partial sum here; a margin far above any such rounding keeps the shortcut exact: a share
# within it of the threshold goes to the full check like any other.
_ROUNDING_MARGIN = 1e-12


def c2_settled(known_probs: Sequence[float], known_weights: Sequence[float] | np.ndarray, threshold: float = 0.5) -> bool:
    """True when C2 passes on the weighted shares of some of the models: sum w_m p_m > threshold.

    Exact, not an approximation: the models not counted add w_m p_m >= 0, so `check(...).c2 >
    threshold` then holds for any probabilities they would give (and whatever C1 says).
    """
    share = float(np.dot(np.asarray(known_weights, dtype=np.float64), np.asarray(known_probs, dtype=np.float64)))
    return share > threshold + _ROUNDING_MARGIN


def drafter_decides(drafter_prob: float, weights: np.ndarray, threshold: float = 0.5) -> bool:
    """True when C2 passes on the drafter's share alone: w_0 * p_0 > threshold (`c2_settled`).

    With weights summing to 1 this needs w_0 > threshold: equal weights never decide early,
    weights 4,1,1 decide wherever the drafter is more than 75 % sure.
    """
    return c2_settled([drafter_prob], [weights[0]], threshold)


def verifiers_sure(verifier_tops: Sequence[float], beta: float, drafter_top: float | None = None) -> bool:
    """CoSD's condition: True when some verifier gives its own most likely token at least `beta`
    (and, with `drafter_top`, more than that: the drafter's largest probability). beta 0: always
    True, no condition. Where it is False, a position without consensus keeps its drafted token.
    """
    if beta <= 0 and drafter_top is None:
        return True
    return any(p >= beta and (drafter_top is None or p > drafter_top) for p in map(float, verifier_tops))


def drafter_keeps(drafter_prob: float, gate: float) -> bool:
    """True when the drafter gate keeps the drafted token unensembled: p_0 >= gate.

    A gate of 1 or more is no gate (a probability that rounds to exactly 1.0 is not let through).
    """
    return gate < 1.0 and float(drafter_prob) >= gate
