"""Choosing an ensemble's settings from data: the search space and successive halving.

`safe-local tune` asks which drafter, weights, base, sharpening, chunk, drafter gate and verifier
confidence (CoSD's beta, safe_local.core.consensus.verifiers_sure) make a set of models answer best. Every combination is a `Method` (a label, a GenerationConfig and the
models in drafter-first order), so its results are keyed, stored and resumed exactly like
`eval`'s. Successive halving spends the answers where they tell most: every configuration on a
few items, the better half on twice as many, and so on until one is left or the items run out.
Configurations are ranked by correct answers on the items they ran, then by speed relative to
their drafter alone on the same items; one slower than `min_speed` ranks below every one that
is fast enough. Each standing also counts, item by item, what the configuration gains and loses
against its drafter alone: accuracy alone hides an ensemble that trades as many right answers
away as it wins (`pays`).

Left out on purpose: loading models and running them (safe_local.commands.tune), grading
(safe_local.evaluation.answers), and the statistics of the final report beyond what ranking
needs (safe_local.evaluation.stats gives the intervals).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, replace
from statistics import median
from typing import Iterable, Sequence

from safe_local.errors import SafeLocalError
from safe_local.evaluation.methods import Method
from safe_local.evaluation.results import item_hash, record_key
from safe_local.generation_config import AUTO, BASES, SHARPENING, GenerationConfig

# A drafter weight relative to each verifier's 1: "1" is the authors' equal weights.
DEFAULT_WEIGHTS = (1.0, 2.0, 4.0)
DEFAULT_GATES = (1.0, 0.5)  # 1: no gate (UniTE + SAFE), 0.5: the authors' GaC + SAFE gate
DEFAULT_BETAS = (0.0, 0.5, 0.7, 0.9)  # verifier confidence: 0 is none (every open position is ensembled)


@dataclass(frozen=True)
class Space:
    """The settings to search; every combination is one configuration."""

    drafters: tuple[str, ...]  # model names, each tried as the drafter (the others verify, in order)
    weights: tuple[float, ...] = DEFAULT_WEIGHTS  # the drafter's weight; each verifier weighs 1
    bases: tuple[str, ...] = BASES
    sharpening: tuple[str, ...] = ("heuristic", "geometric")
    gates: tuple[float, ...] = DEFAULT_GATES
    chunks: tuple[int | str, ...] = (AUTO,)
    betas: tuple[float, ...] = DEFAULT_BETAS

    def check(self) -> None:
        for name, values, allowed in (("bases", self.bases, BASES), ("sharpening", self.sharpening, SHARPENING)):
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise SafeLocalError(f"tune --{name}: {', '.join(bad) or 'nothing'} is not one of {', '.join(allowed)}")
        if not self.drafters:
            raise SafeLocalError("tune --drafters names no model: give model names of the ensemble, or all")
        if not self.weights or any(not w > 0 for w in self.weights):
            raise SafeLocalError(f"tune --weights must be positive drafter weights, e.g. 1,2,4; got {list(self.weights)}")
        if not self.gates or any(not 0 < g <= 1 for g in self.gates):
            raise SafeLocalError(f"tune --gates must be in (0, 1] (1: no gate), got {list(self.gates)}")
        if not self.betas or any(not 0 <= b <= 1 for b in self.betas):
            raise SafeLocalError(f"tune --betas must be in [0, 1] (0: none), got {list(self.betas)}")


def configurations(models: Sequence[str], space: Space, base: GenerationConfig) -> list[Method]:
    """Every SAFE configuration of the space, as eval Methods over the models reordered for each drafter."""
    space.check()
    unknown = [d for d in space.drafters if d not in models]
    if unknown:
        raise SafeLocalError(f"tune --drafters: {', '.join(unknown)} is not one of the models ({', '.join(models)})")
    if len(models) < 2:
        raise SafeLocalError("tune needs at least 2 models: an ensemble's settings are what it searches")
    out = []
    grid = itertools.product(space.drafters, space.weights, space.bases, space.sharpening, space.gates, space.chunks,
                             space.betas)
    for drafter, weight, base_name, sharpening, gate, chunk, beta in grid:
        order = (drafter, *[m for m in models if m != drafter])
        config = replace(base, method="safe", base=base_name, sharpening=sharpening, drafter_gate=gate, chunk=chunk,
                         weights=(weight,) + (1.0,) * (len(models) - 1), verifier_confidence=beta)
        config.validate(len(models))
        out.append(Method(label(drafter, weight, base_name, sharpening, gate, chunk, beta), config, order))
    return out


def label(drafter: str, weight: float, base: str, sharpening: str, gate: float, chunk: int | str,
          beta: float = 0.0) -> str:
    """A configuration's row name, e.g. `qwen2.5-coder-0.5b w4 unite geometric g0.5 auto v0.7` (no `v`
    part without a verifier confidence: such rows keep the names, and results, they had before it)."""
    return f"{drafter} w{weight:g} {base} {sharpening} g{gate:g} {chunk}" + (f" v{beta:g}" if beta > 0 else "")


def rung_sizes(n_configs: int, n_items: int, first: int) -> list[tuple[int, int]]:
    """(configurations kept, items run) per rung: halve the one, double the other.

    Ends when one configuration is left or the items run out; the last rung runs every item
    if doubling would pass the pool, so the survivors are compared on all of it.
    """
    if n_configs < 1 or n_items < 1 or first < 1:
        raise SafeLocalError("tune needs at least one configuration, one item and --first-items >= 1")
    rungs = []
    kept, items = n_configs, min(first, n_items)
    while True:
        rungs.append((kept, items))
        if kept == 1 or items == n_items:
            return rungs
        kept, items = math.ceil(kept / 2), min(2 * items, n_items)


@dataclass(frozen=True)
class Standing:
    """A configuration's results on the items it ran."""

    method: Method
    n: int  # items run
    correct: int
    speed: float | None  # median over items of its tokens/s over its drafter's alone (None: unknown)
    gained: int = 0  # items it gets right and its drafter alone gets wrong
    lost: int = 0  # and the reverse

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def pays(self) -> bool:
        """Whether it gains more items than it loses against its drafter alone."""
        return self.gained > self.lost


def _code(record: dict) -> str:
    """The code that answered a record, as a key (evaluation.code_version)."""
    return json.dumps(record.get("settings", {}).get("code"), sort_keys=True)


def standings(methods: Iterable[Method], records: Sequence[dict], items: set[tuple[str, str, str]]) -> list[Standing]:
    """Each method's correct answers and relative speed on `items` ((task, item_id, content hash)
    triples: Item.content_hash, "" for a built-in item).

    A record counts only for the item's content it was generated from, as eval's results key it
    (safe_local.evaluation.results): after a user's item is edited, its old answers stay in the
    file but score nothing. The speed pairs each item's answer with the drafter's single-model
    answer of the same item, made by the same code (both must be in `records`), as eval's report
    does, so load that drifts over hours cancels; the gains and losses pair the same answers' grades.
    """
    by_key = {record_key(r): r for r in records}
    singles = {(r["task"], r["item_id"], item_hash(r), r["models"][0], _code(r)): r
               for r in records if r["kind"] == "single"}
    out = []
    for method in methods:
        rows = [by_key.get((task, item, content, method.label, method.settings_hash))
                for task, item, content in sorted(items)]
        rows = [r for r in rows if r is not None]
        ratios, gained, lost = [], 0, 0
        for r in rows:
            alone = singles.get((r["task"], r["item_id"], item_hash(r), method.models[0], _code(r)))
            if alone is None:
                continue
            if alone["tokens_per_s"] > 0:
                ratios.append(r["tokens_per_s"] / alone["tokens_per_s"])
            gained += bool(r["correct"]) and not alone["correct"]
            lost += bool(alone["correct"]) and not r["correct"]
        out.append(Standing(method, len(rows), sum(bool(r["correct"]) for r in rows),
                            median(ratios) if ratios else None, gained, lost))
    return out


def save_refusal(winner: Standing) -> str | None:
    """Why the winner is not saved as a preset (it loses more items than it gains against its
    drafter alone), or None when it may be."""
    if winner.lost > winner.gained:
        return (f"not saved: the winner loses {winner.lost} items and gains {winner.gained} against its drafter "
                "alone")
    return None


def does_not_pay(ranked: Sequence[Standing]) -> str | None:
    """The report's verdict when no configuration gains more items than it loses, else None."""
    if ranked and not any(s.pays for s in ranked):
        return ("Ensembling does not pay on these items: no configuration gains more items than it loses "
                "against its drafter alone. Use the drafter alone.")
    return None


def rank(rows: Sequence[Standing], min_speed: float = 0.0) -> list[Standing]:
    """Best first: fast enough, then most correct, then fastest."""
    def key(s: Standing) -> tuple[bool, int, float]:
        speed = s.speed if s.speed is not None else 0.0
        return (speed >= min_speed, s.correct, speed)
    return sorted(rows, key=key, reverse=True)


def front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the Pareto front of (speed, accuracy) points: none is beaten on both, fastest first."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    best, out = -math.inf, []
    for i in order:
        if points[i][1] > best:
            out.append(i)
            best = points[i][1]
    return out
