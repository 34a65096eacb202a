"""Averaging next-token distributions of models with different vocabularies.

Models cannot be averaged id by id, so both base methods move every model onto a shared set of
token *strings* (union keys: piece bytes, all end-of-generation tokens merged into EOG_KEY):
- UniTE (`unite_union`): the union of each model's top-k strings. A model whose top-k lacks a
  string scores it with the logit of the string's first sub-token under its own tokenizer.
  Each model is softmaxed over the small union, then the rows are averaged.
- GaC (`GacUnion`): every model's full vocabulary mapped onto the union of all strings once per
  model set; each step is a softmax and a bincount per model.
Both return a `UnionDistribution`, the per-model rows plus weights, so sharpening can use either.

Left out on purpose: choosing the string (argmax or sampling on the result, after optional
sharpening) and turning it back into a model's token ids (the engine tokenizes it).
Excluded (control) tokens never enter a union.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .consensus import normalize_weights
from .probs import softmax, top_indices
from .vocab import EOG_KEY, Vocab

__all__ = ["UnionDistribution", "unite_union", "GacUnion", "softmax"]


@dataclass
class UnionDistribution:
    strings: list[bytes]  # union keys (piece bytes, or EOG_KEY)
    per_model: np.ndarray  # (k, U) each row a probability distribution over the union
    weights: np.ndarray  # (k,) normalized
    # (k, U) bool: the string is one of model m's top-k candidates (for GaC too, whose union is
    # every string). Heuristic sharpening lets row 0's strings absorb any row's strings.
    proposed: np.ndarray | None = None

    @property
    def ensembled(self) -> np.ndarray:
        """(U,) weighted average of the per-model rows.

        Summed row by row rather than as `weights @ per_model`: for GaC's union (~350k strings)
        that product is large enough for NumPy's BLAS to run it on several threads, which then
        busy-wait for a while afterwards and take the cores from llama.cpp's next decode. On an
        AMD EPYC (2 cores) the drafter's first one-token decode after a GaC ensemble took 64 ms
        instead of 21 ms, the next ones 26 ms (the same with OPENBLAS_NUM_THREADS=1: 21 ms).
        """
        out = self.weights[0] * self.per_model[0]
        for w, row in zip(self.weights[1:], self.per_model[1:]):
            out += w * row
        return out

    def top(self, n: int = 5) -> list[tuple[bytes, float]]:
        """The n most likely strings of the ensemble with their probabilities, best first."""
        p = self.ensembled
        return [(self.strings[i], float(p[i])) for i in top_indices(p, n)]


def _top_keys(logits: np.ndarray, vocab: Vocab, top_k: int) -> dict[bytes, float]:
    """The model's top_k tokens as key -> logit, best first; duplicate keys keep the max."""
    ids = top_indices(logits, top_k)
    if vocab.excluded_mask[ids].any():  # the engine's rows come masked; a caller's raw row may not
        logits = np.where(vocab.excluded_mask, -np.inf, logits)
        ids = top_indices(logits, top_k)
    best: dict[bytes, float] = {}
    for i in ids.tolist():
        value = float(logits[i])
        if value == -np.inf:  # fewer than top_k usable tokens
            continue
        key = vocab.key(i)
        if value > best.get(key, -np.inf):
            best[key] = value
    return best


def _fallback_logit(logits: np.ndarray, vocab: Vocab, s: bytes) -> float:
    """The model's logit for a union string outside its top-k."""
    if s == EOG_KEY:
        # Every EOG id is the same union string, so the key's logit is the best of them,
        # exactly as if one of them had been in the top-k.
        return float(np.max(logits[list(vocab.eog_ids)])) if vocab.eog_ids else -np.inf
    tid = vocab.first_token(s)
    if tid is None or vocab.excluded_mask[tid]:
        return -np.inf
    return float(logits[tid])


def unite_union(
    logits: Sequence[np.ndarray],
    vocabs: Sequence[Vocab],
    weights: np.ndarray,
    top_k: int = 10,
) -> UnionDistribution:
    """UniTE's distribution over the union of every model's top_k strings.

    Union order is first appearance, models in the given order (drafter first), each model's
    strings best first, so argmax ties go to the drafter's preference.
    """
    if len(logits) != len(vocabs):
        raise ValueError(f"{len(logits)} logit vectors for {len(vocabs)} models")
    w = normalize_weights(weights, len(vocabs))
    tops = [_top_keys(np.asarray(lg), v, top_k) for lg, v in zip(logits, vocabs)]
    strings = list(dict.fromkeys(s for top in tops for s in top))

    union_logits = np.empty((len(vocabs), len(strings)), dtype=np.float64)
    for m, (lg, vocab, top) in enumerate(zip(logits, vocabs, tops)):
        lg = np.asarray(lg)
        for u, s in enumerate(strings):
            union_logits[m, u] = top[s] if s in top else _fallback_logit(lg, vocab, s)
    proposed = np.array([[s in top for s in strings] for top in tops], dtype=bool)
    return UnionDistribution(
        strings=strings, per_model=softmax(union_logits), weights=w, proposed=proposed
    )


class GacUnion:
    """GaC: every model's full vocabulary mapped onto a union vocabulary of token strings, with
    sparse index arrays built once per model set."""

    def __init__(self, vocabs: Sequence[Vocab]):
        table: dict[bytes, int] = {}
        add = table.setdefault
        self.n_vocab: list[int] = [v.n_vocab for v in vocabs]
        # index[m][id] = union index of model m's token, -1 for excluded tokens.
        self.index: list[np.ndarray] = []
        self._kept: list[np.ndarray] = []
        self._kept_union: list[np.ndarray] = []
        for vocab in vocabs:
            eog = vocab.eog_mask.tolist()
            excluded = vocab.excluded_mask.tolist()
            # len(table) is evaluated before setdefault inserts, so a new key gets the next index.
            idx = [
                -1 if x else add(EOG_KEY if e else p, len(table))
                for p, e, x in zip(vocab.pieces, eog, excluded)
            ]
            index = np.array(idx, dtype=np.int64)
            kept = np.flatnonzero(index >= 0)
            self.index.append(index)
            self._kept.append(kept)
            self._kept_union.append(index[kept])
        self.strings: list[bytes] = list(table)
        self._continuable: dict[int, np.ndarray] = {}

    def continuable(self, m: int) -> np.ndarray:
        """(U,) bool: the strings model m can take as its next text, built once: its own pieces,
        EOG_KEY, and any other string of whole UTF-8 characters (which it can tokenize). A lone
        byte of another model's multi-byte character is not: it would tokenize as U+FFFD."""
        if m not in self._continuable:
            mask = np.zeros(len(self.strings), dtype=bool)
            mask[self._kept_union[m]] = True
            for i in np.flatnonzero(~mask).tolist():
                mask[i] = _is_utf8(self.strings[i])
            self._continuable[m] = mask
        return self._continuable[m]

    def distribution(self, logits: Sequence[np.ndarray], weights: np.ndarray, top_k: int = 10) -> UnionDistribution:
        """Each model's full softmax (excluded ids dropped, renormalized) with the mass of ids
        sharing a string summed, as (k, U) rows; `proposed` marks each row's top_k strings (the
        authors' GaC sharpening works on those). `strings` is shared with this object: do not
        mutate it."""
        if len(logits) != len(self.index):
            raise ValueError(f"{len(logits)} logit vectors for {len(self.index)} models")
        w = normalize_weights(weights, len(self.index))
        rows = np.empty((len(self.index), len(self.strings)), dtype=np.float64)
        for m, lg in enumerate(logits):
            lg = np.asarray(lg)
            if lg.shape != (self.n_vocab[m],):
                raise ValueError(f"model {m}: expected {self.n_vocab[m]} logits, got {lg.shape}")
            p = softmax(lg[self._kept[m]])
            rows[m] = np.bincount(self._kept_union[m], weights=p, minlength=len(self.strings))
        proposed = np.zeros(rows.shape, dtype=bool)
        for m, row in enumerate(rows):
            proposed[m, top_indices(row, top_k)] = True
        return UnionDistribution(strings=self.strings, per_model=rows, weights=w, proposed=proposed)


def _is_utf8(s: bytes) -> bool:
    try:
        s.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
