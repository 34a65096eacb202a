"""Compare ensemble variants with the main evaluation run, on the items both have.

Reads the main run's results (docs/eval/results.jsonl: each model alone and every ensemble) and
one results directory per variant (scripts/eval_variants.sh writes docs/eval-variants/<name>/),
keeps only the (task, item) pairs present everywhere, and prints a Markdown table: per task and
pooled, every method of the main run and each variant's method (named after the variant, plus
the method when it is not safe-unite), with accuracy (95 % Wilson interval), E/T, tokens per
answer, the items it gets right that a reference method (--reference: a main-run method, default
safe-unite, or a variant's row label) gets wrong and the reverse (the paired view a small sample
needs) with the exact two-sided sign test of those counts, and how many of its answers were
stopped in a loop or at the token limit. --variant picks variants by name; --no-variants
compares the main run's methods alone. Replies are graded again with today's grader. Left out:
plots.

    .venv/bin/python scripts/compare_variants.py [--main docs/eval] [--variants docs/eval-variants]
        [--variant NAME ...] [--no-variants] [--reference METHOD]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safe_local.evaluation.results import RESULTS_FILE, read_records
from safe_local.evaluation.runner import regrade
from safe_local.evaluation.stats import sign_test, summarize

VARIANT_METHOD = "safe-unite"  # the method a variant's label leaves unsaid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--main", type=Path, default=Path("docs/eval"))
    p.add_argument("--variants", type=Path, default=Path("docs/eval-variants"))
    p.add_argument("--variant", action="append", help="only this variant (repeatable; default: all)")
    p.add_argument("--no-variants", action="store_true", help="only the main run's methods")
    p.add_argument("--reference", default=VARIANT_METHOD,
                   help="paired columns against: a main-run method or a row label, e.g. 'variant: NAME'")
    args = p.parse_args(argv)
    main_records = regrade(read_records(args.main / RESULTS_FILE))
    dirs = [] if args.no_variants else [d for d in sorted(args.variants.iterdir()) if (d / RESULTS_FILE).exists()]
    variants = {d.name: regrade(read_records(d / RESULTS_FILE)) for d in dirs if not args.variant or d.name in args.variant}
    if args.variant and set(args.variant) - set(variants):
        sys.exit(f"no results for variant(s) {', '.join(sorted(set(args.variant) - set(variants)))} in {args.variants}")
    rows = {m: _by_item(main_records, m) for m in dict.fromkeys(r["method"] for r in main_records)}
    rows |= {
        f"variant: {name}" + ("" if method == VARIANT_METHOD else f" ({method})"): _by_item(records, method)
        for name, records in variants.items() for method in dict.fromkeys(r["method"] for r in records)
    }
    if args.reference not in rows:
        sys.exit(f"no {args.reference} results: use one of {', '.join(rows)}")
    common = set.intersection(*(set(by_item) for by_item in rows.values()))
    if not common:
        sys.exit(f"no items common to {args.main} and every variant")
    tasks = sorted({task for task, _ in common})
    for scope in [*tasks, "all"]:
        items = sorted(k for k in common if scope in ("all", k[0]))
        print(f"### {scope} ({len(items)} items)\n")
        print(_table(rows, items, args.reference))
        print()
    return 0


def _by_item(records: list[dict], method: str) -> dict[tuple[str, str], dict]:
    chosen = [r for r in records if r["method"] == method]
    hashes = sorted({r["settings_hash"] for r in chosen})
    if len(hashes) > 1:  # a variant rerun with other flags: its rows would mix two settings
        sys.exit(f"{method} has results under {len(hashes)} settings ({', '.join(hashes)}): "
                 "give each setting its own --out directory")
    return {(r["task"], r["item_id"]): r for r in chosen}


def _table(rows: dict[str, dict], items: list[tuple[str, str]], reference_method: str) -> str:
    reference = rows[reference_method]
    # One pseudo-task and the row label as method, so summarize gives one row per label.
    records = [by_item[k] | {"task": "", "method": label} for label, by_item in rows.items() for k in items]
    lines = [
        f"| method | accuracy (95 % CI) | E/T | tokens/answer | right where {reference_method} is wrong | "
        "wrong where it is right | sign p | stopped in a loop | at the token limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summarize(records):
        by_item = rows[row.method]
        gained = sum(by_item[k]["correct"] and not reference[k]["correct"] for k in items)
        lost = sum(reference[k]["correct"] and not by_item[k]["correct"] for k in items)
        if row.method == reference_method:
            paired = ("–", "–", "–")
        else:
            paired = (gained, lost, f"{sign_test(gained, lost):.2f}")
        stops = [by_item[k]["stop_reason"] for k in items]
        lines.append(
            f"| {row.method} | {row.correct}/{row.n} = {row.accuracy:.0%} ({row.ci_low:.0%}–{row.ci_high:.0%}) | "
            f"{row.ensemble_rate:.1%} | {row.mean_tokens:.0f} | {paired[0]} | {paired[1]} | {paired[2]} | "
            f"{stops.count('loop')} | {stops.count('length')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
