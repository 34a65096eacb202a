"""Per-method figures from result records: accuracy with a 95 % Wilson interval, E/T, tokens, speed.

Records are grouped by (task, method, settings hash); a method run with two different settings
in one results file gives two rows, the later ones labelled with their hash, and a row answered
by other code than this one's is labelled with that code (`code_version.describe`). E/T and tokens/s
are pooled over items (total ensembled / total tokens, total tokens / total seconds), so long
answers weigh more, as they do in wall-clock time. Speed is also given relative to the drafter
alone (the single-model row of the model that drafted the ensembles), item by item: the median,
over the items both ran, of the method's tokens/s over the drafter's on the same item. An item's
methods run back to back, so the pairing cancels what drifts over a run of hours (other load on
a shared machine), and the median ignores the odd item whose clock ran on while its process was
paused. For a difference between two methods on the same items, `sign_test` gives the exact
two-sided sign test of the items one gets right and the other wrong (the reports print the
counts; scripts/compare_variants.py adds the p-value). Left out: tests that model item difficulty.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from statistics import median

from safe_local.evaluation.code_version import code_version, describe

Z95 = 1.959964


@dataclass
class MethodSummary:
    task: str
    method: str  # row label
    settings_hash: str
    kind: str  # single | unite | gac | safe
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    ensemble_rate: float  # E/T
    mean_tokens: float
    tokens_per_s: float
    speed_vs_drafter: float | None  # median per-item tokens/s over the drafter's alone (None: no drafter row)

    def to_dict(self) -> dict:
        return asdict(self)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (0, 0 for n = 0)."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(gained: int, lost: int) -> float:
    """Exact two-sided sign test: the p-value of `gained` against `lost` discordant items under no difference.

    Items both methods get right (or wrong) carry no information about which is better, so only the
    discordant ones count; under the null hypothesis each goes either way with probability 1/2.
    Bin(n, 1/2) is symmetric, so the two-sided p-value is twice the smaller tail, capped at 1.
    """
    if gained < 0 or lost < 0:
        raise ValueError(f"counts must be non-negative, got {gained} and {lost}")
    n = gained + lost
    tail = sum(math.comb(n, k) for k in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def summarize(records: list[dict]) -> list[MethodSummary]:
    """One summary per (task, method, settings), in the order they first appear in the records."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["method"], r["settings_hash"]), []).append(r)
    codes = {key: rs[0].get("settings", {}).get("code") for key, rs in groups.items()}
    labels = _labels(list(groups), codes)
    rows = {key: _summary(key, labels[key], rs) for key, rs in groups.items()}
    for task in dict.fromkeys(key[0] for key in groups):
        _set_relative_speed({key: rs for key, rs in groups.items() if key[0] == task}, rows, codes)
    return list(rows.values())


def _labels(keys: list[tuple[str, str, str]], codes: dict[tuple[str, str, str], dict | None],
            ) -> dict[tuple[str, str, str], str]:
    """The method's name, plus the code that answered when it is not this code, plus its settings
    hash after the first settings of that method and code in a task."""
    seen: dict[tuple[str, str, str], int] = {}
    labels = {}
    for key in keys:
        task, method, settings = key
        code = json.dumps(codes[key], sort_keys=True)
        count = seen.get((task, method, code), 0)
        seen[(task, method, code)] = count + 1
        tags = ([describe(codes[key])] if codes[key] != code_version() else []) + ([settings[:6]] if count else [])
        labels[key] = f"{method} [{', '.join(tags)}]" if tags else method
    return labels


def _summary(key: tuple[str, str, str], label: str, records: list[dict]) -> MethodSummary:
    n = len(records)
    correct = sum(bool(r["correct"]) for r in records)
    tokens = sum(r["tokens"] for r in records)
    seconds = sum(r["seconds"] for r in records)
    low, high = wilson(correct, n)
    return MethodSummary(
        task=key[0], method=label, settings_hash=key[2], kind=records[0]["kind"], n=n, correct=correct,
        accuracy=correct / n, ci_low=low, ci_high=high,
        ensemble_rate=sum(r["ensembled"] for r in records) / tokens if tokens else 0.0,
        mean_tokens=tokens / n, tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
        speed_vs_drafter=None,
    )


def _set_relative_speed(groups: dict[tuple[str, str, str], list[dict]],
                        rows: dict[tuple[str, str, str], MethodSummary], codes: dict) -> None:
    """Each row's speed relative to the drafter alone run by the same code, on one task's groups."""
    drafters = [r["drafter"] for records in groups.values() for r in records if r["kind"] != "single"]
    if not drafters:
        return
    drafter = max(set(drafters), key=drafters.count)
    for key, records in groups.items():
        alone = next((k for k in groups if rows[k].kind == "single" and k[1] == drafter and codes[k] == codes[key]),
                     None)
        drafter_speed = {r["item_id"]: _speed(r) for r in groups[alone] if _speed(r)} if alone else {}
        ratios = [_speed(r) / drafter_speed[r["item_id"]] for r in records if r["item_id"] in drafter_speed]
        if ratios:
            rows[key].speed_vs_drafter = median(ratios)


def _speed(record: dict) -> float:
    return record["tokens"] / record["seconds"] if record["seconds"] > 0 else 0.0
