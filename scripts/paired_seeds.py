"""Paired comparison of two methods over seeded runs: one results directory per seed.

Each directory is an `safe-local eval --out` directory (results.jsonl) from the same items with a
different `--seed`. Every (task, item, seed) both methods answered is one pair; the table gives,
per task and seed and pooled, each method's accuracy with its 95 % Wilson interval, the pairs
the second method gains and loses against the first, and the exact two-sided sign test of those
counts, loss count first as docs/results.md's rules ask. Replies are graded again with today's
grader. Left out: choosing the rule (written before the run, in docs/results.md) and plots.

    .venv/bin/python scripts/paired_seeds.py --reference qwen2.5-coder-0.5b --method safe-gac \
        docs/eval-sampled/seed-1 docs/eval-sampled/seed-2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from safe_local.evaluation.results import RESULTS_FILE, read_records
from safe_local.evaluation.runner import regrade
from safe_local.evaluation.stats import sign_test, wilson


def pairs(directories: list[Path], reference: str, method: str) -> list[tuple[str, str, bool, bool]]:
    """(task, seed label, reference correct, method correct) per pair both answered."""
    out = []
    for directory in directories:
        records = regrade(read_records(directory / RESULTS_FILE))
        by = {(r["task"], r["item_id"], r["method"]): r["correct"] for r in records}
        for (task, item, name), correct in sorted(by.items()):
            if name == reference and (task, item, method) in by:
                out.append((task, directory.name, correct, by[(task, item, method)]))
    return out


def row(label: str, group: list[tuple[str, str, bool, bool]]) -> str:
    n = len(group)
    ref, new = sum(g[2] for g in group), sum(g[3] for g in group)
    lost = sum(g[2] and not g[3] for g in group)
    gained = sum(g[3] and not g[2] for g in group)

    def acc(k: int) -> str:
        lo, hi = wilson(k, n)
        return f"{k}/{n} = {k / n:.0%} ({lo:.0%}-{hi:.0%})"

    return f"| {label} | {n} | {acc(ref)} | {acc(new)} | {lost} | {gained} | {sign_test(gained, lost):.2f} |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="the method compared against (e.g. the drafter alone)")
    p.add_argument("--method", required=True, help="the method whose gains and losses are counted")
    p.add_argument("directories", type=Path, nargs="+", help="one eval --out directory per seed")
    args = p.parse_args(argv)
    found = pairs(args.directories, args.reference, args.method)
    if not found:
        print(f"no item has answers from both {args.reference} and {args.method}")
        return 1
    print(f"| pairs | n | {args.reference} | {args.method} | lost | gained | sign p |")
    print("|---|---:|---|---|---:|---:|---:|")
    for task in sorted({f[0] for f in found}):
        for seed in sorted({f[1] for f in found}):
            group = [f for f in found if f[0] == task and f[1] == seed]
            if group:
                print(row(f"{task}, {seed}", group))
        print(row(f"{task}, both seeds", [f for f in found if f[0] == task]))
    print(row("**pooled**", found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
