"""Probability sharpening: consolidating a flat ensemble before taking its argmax.

When models disagree the average is flat, and mass that means the same continuation is split
across strings of different length (" S", " So", " Sofia"). Two remedies from the paper:
- heuristic (paper default, lambda = 0.1): each of the drafter's top-k strings s with
  P_ens(s) > lambda also receives the mass of every other string in some model's top-k that
  extends s (starts with s), since choosing s keeps all those continuations open. As in the
  authors' code, a lone space never absorbs (it prefixes every word), and only top-k strings
  take part, for GaC's full-vocabulary union too;
- heuristic-word (ours, not the paper's): the same, except that a string absorbs only the
  extensions that continue it past a word boundary, never one that splits a word: " The" no
  longer takes " Therefore", and " S" no longer takes " Sofia". Measured against heuristic in
  docs/results.md; it exists because most loop onsets seen under heuristic sharpening were a
  confident " Therefore" outvoted by a " The" credited with its mass;
- geometric: a weighted geometric mean of the models' rows, which rewards strings every model
  supports (best in the paper's ablation).
Applied only when the ensemble is unsure (max P_ens < threshold, default 0.5).

Left out on purpose: the argmax or sampling on the returned scores, and deciding which union
entries count as the drafter's (the caller passes that mask).
"""

from __future__ import annotations

import numpy as np

from .ensemble import UnionDistribution
from .vocab import EOG_KEY

# A lone space is a prefix of nearly every word-initial string: crediting it their mass would
# pick a bare " " over the word itself, so (as in the authors' code) it never absorbs.
_NEVER_ABSORBS = (b" ", EOG_KEY)

MODES = ("none", "heuristic", "heuristic-word", "geometric")
THRESHOLD = 0.5  # sharpening applies only where the ensemble's top string is below this


def _is_word_byte(b: int) -> bool:
    # Letters and digits, and any byte of a multi-byte UTF-8 character (letters of other scripts).
    return b >= 0x80 or chr(b).isalnum()


def _splits_a_word(prefix: bytes, extension: bytes) -> bool:
    """Whether `extension` continues `prefix` inside a word (" The" -> " Therefore", " 1" -> " 12")."""
    return _is_word_byte(prefix[-1]) and _is_word_byte(extension[len(prefix)])


def _as_mask(dist: UnionDistribution, drafter_strings: set[bytes] | np.ndarray) -> np.ndarray:
    """Bool mask over the union from a set of strings, a bool mask, or an index array."""
    n = len(dist.strings)
    if isinstance(drafter_strings, (set, frozenset)):
        return np.fromiter((s in drafter_strings for s in dist.strings), dtype=bool, count=n)
    arr = np.asarray(drafter_strings)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"drafter mask has shape {arr.shape}, union has {n} strings")
        return arr
    mask = np.zeros(n, dtype=bool)
    mask[arr.astype(np.int64)] = True
    return mask


def heuristic(
    dist: UnionDistribution, drafter_strings: set[bytes] | np.ndarray, lam: float = 0.1, words: bool = False
) -> np.ndarray:
    """(U,) scores: P_ens, plus for each drafter string s with P_ens(s) > lam the P_ens mass of
    every other candidate string starting with s. Not normalized (mass is counted twice on
    purpose). Candidates are the strings in any model's top-k (`dist.proposed`; every union
    string when it is None). " " and EOG_KEY never absorb; EOG_KEY is never absorbed.
    `drafter_strings`: a set of strings, a bool mask over the union, or union indices.
    `words`: absorb only extensions that do not split a word (heuristic-word)."""
    p = dist.ensembled
    scores = p.copy()
    absorbers = _as_mask(dist, drafter_strings) & (p > lam)
    pool = dist.proposed.any(axis=0) if dist.proposed is not None else np.ones(len(p), dtype=bool)
    candidates = [(int(j), dist.strings[j]) for j in np.flatnonzero(pool) if dist.strings[j] != EOG_KEY]
    for i in np.flatnonzero(absorbers):
        s = dist.strings[i]
        if s in _NEVER_ABSORBS:
            continue
        # Additions use the unsharpened p so the result does not depend on the order.
        scores[i] += sum(p[j] for j, t in candidates
                         if j != i and t.startswith(s) and not (words and _splits_a_word(s, t)))
    return scores


def geometric(dist: UnionDistribution) -> np.ndarray:
    """(U,) normalized weighted geometric mean: P(s) proportional to prod_m P_m(s)^{w_m}.

    A string that any positively weighted model gives 0 gets 0. If no string has support from
    all of them, the arithmetic ensemble is returned instead (there is nothing to sharpen).
    """
    use = dist.weights > 0
    w = dist.weights[use]
    with np.errstate(divide="ignore"):
        logp = np.log(dist.per_model[use])
    x = (w[:, None] * logp).sum(axis=0)  # w > 0, so no 0 * -inf
    top = x.max() if x.size else -np.inf
    if not np.isfinite(top):
        return dist.ensembled
    e = np.exp(x - top)
    return e / e.sum()


def sharpen(
    dist: UnionDistribution,
    mode: str,
    drafter_mask: np.ndarray,
    lam: float = 0.1,
    threshold: float = THRESHOLD,
) -> tuple[np.ndarray, bool]:
    """Scores to take the argmax of, and whether sharpening was applied.
    mode is one of MODES; applied only when max P_ens < threshold."""
    if mode not in MODES:
        raise ValueError(f"unknown sharpening mode {mode!r}; choose one of {', '.join(MODES)}")
    p = dist.ensembled
    if mode == "none" or p.size == 0 or p.max() >= threshold:
        return p, False
    if mode in ("heuristic", "heuristic-word"):
        return heuristic(dist, drafter_mask, lam, words=mode == "heuristic-word"), True
    return geometric(dist), True
