"""The sampling variant of SAFE (paper App. H): speculative sampling against one stated target.

What a sampled reply is drawn from, position by position (S is the sampler: temperature, then
the top-p nucleus, then min-p, as `sampling.sampler_distribution`; repetition penalties act on
each model's own logits before anything here):
- where every model's tokenization has a boundary and the method may ensemble there (for
  GaC + SAFE: the drafter's largest raw probability is below the gate), the target is
  P* = S(sharpened weighted ensemble over the union strings): the very distribution every-token
  UniTE (resp. GaC) samples from, except that strings the drafter cannot continue from (a lone
  byte of another tokenizer's UTF-8 character) lose their share;
- everywhere else, the drafter's own S(P_drafter).
Which kind a position is follows from the drafted text (SAFE's stability check re-tokenizes it),
so the reply's first position, and every position of models sharing a tokenizer, have the
every-token distribution exactly; elsewhere each position does, given its kind.

At an ensemble position the drafted token t came from the proposal q = S(P_drafter), mapped onto
the union's strings (mass on strings outside the union can only be rejected). With u uniform on
[0, 1) it is kept when u * q(t) <= P*(t), else replaced by a draw from norm(max(P* - q, 0));
the emitted string is then distributed exactly as P* (Leviathan et al. 2023, Chen et al. 2023).
No consensus shortcut applies: C2's "the drafted token is the ensemble's argmax" says nothing
about P*(t) / q(t), and C1 is dropped, as App. H does.

What can be decided without the verifiers (`proven_share`): u is drawn first, and a lower bound
L <= P*(t) from the drafter alone keeps t whenever u * q(t) <= L. Such a bound exists only when
(1) the drafter's share of t's union string is at least w_0 * P_drafter(t) - true of GaC's union,
where each model's full distribution is kept, but not of UniTE's, whose union renormalizes every
model over a few strings (a verifier's long string scored by the drafter's first sub-token puts
that token's mass in twice, so the drafter's share can fall below its own probability);
(2) no sharpening can apply (sharpening moves mass between strings in ways the drafter cannot
bound): `sharpening none`, or w_0 * (the drafter's top probability) already at the sharpening
threshold, so the ensemble's top string passes it; (3) temperature <= 1 (above 1 the sampler
flattens the ensemble and no bound from one model's share survives the normalization).
With the shipped presets (heuristic sharpening, and GaC's gate leaving only positions where the
drafter is less than 50 % sure) condition (2) never holds there: every ensemble position asks
the verifiers, and the speed comes from the gate instead.

Left out on purpose: building the union and the two distributions (the engine does that with
`ensemble` and `sampling`) and drawing the drafted token itself.
"""

from __future__ import annotations

import numpy as np

from .sampling import draw


def acceptance(p_t: float, q_t: float) -> float:
    """The probability the test keeps a drafted string: min(1, P*(t) / q(t)) (1 when q(t) is 0 and P*(t) is not)."""
    if q_t <= 0:
        return 1.0 if p_t > 0 else 0.0
    return 1.0 if p_t >= q_t else p_t / q_t


def residual(p_target: np.ndarray, q: np.ndarray) -> np.ndarray:
    """What a replaced string is drawn from: norm(max(P* - q, 0)), or P* itself where that has no mass."""
    rest = np.maximum(np.asarray(p_target, dtype=np.float64) - np.asarray(q, dtype=np.float64), 0.0)
    total = rest.sum()
    return rest / total if total > 0 else np.asarray(p_target, dtype=np.float64) / np.sum(p_target)


def accept_or_resample(
    p_target: np.ndarray, q: np.ndarray, drafted: int | None, rng: np.random.Generator, u: float | None = None
) -> tuple[int, bool]:
    """Keep `drafted` when u * q[drafted] <= p_target[drafted], else draw from
    norm(max(p_target - q, 0)) (p_target itself if that residual has no mass).

    Both are distributions over the same indices; `q` may sum to less than 1 when the proposal
    put mass outside them, and `drafted` is None for a proposal outside them (always replaced).
    `u` is the uniform the test uses, drawn here when not given (the engine draws it first to
    try `proven_share`). Returns (index, kept).
    """
    p_target = np.asarray(p_target, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p_target.shape != q.shape:
        raise ValueError(f"supports differ: {p_target.shape} vs {q.shape}")
    u = rng.random() if u is None else u
    # u * q <= P* keeps with probability `acceptance`, and any bound L <= P* that keeps also keeps here.
    if drafted is not None and u * q[drafted] <= p_target[drafted] and (q[drafted] > 0 or p_target[drafted] > 0):
        return int(drafted), True
    return draw(residual(p_target, q), rng), False


def proven_share(share: float, temperature: float, top_p: float = 1.0, min_p: float = 0.0) -> float:
    """A lower bound on P*(s) = S(P)(s) for any distribution P with P(s) >= share (0: none).

    With a = 1/temperature >= 1, S's tempered weight of s is P(s)^a / sum_x P(x)^a >= share^a,
    because sum_x P(x)^a <= sum_x P(x) = 1. Top-p keeps s whatever the rest when its tempered
    weight exceeds 1 - top_p (the strings before it in the nucleus then hold less than top_p);
    min-p keeps it when that weight is at least min_p (the top weight is at most 1); keeping
    only renormalizes upwards. The caller must know that no sharpening applies and that
    P(s) >= share holds for the union's P (module docstring).
    """
    if not 0 < temperature <= 1 or share <= 0:
        return 0.0
    bound = share ** (1.0 / temperature)
    if top_p < 1 and not bound > 1 - top_p:
        return 0.0
    if min_p > 0 and not bound >= min_p:
        return 0.0
    return bound
