"""Issue 31's runs: `tiny` at each verifier confidence beta, paired against Qwen alone, item by item.

The rule that picks beta is in docs/verifier-confidence.md, written before any run. Every
configuration is `tiny` as shipped (GaC + SAFE, 4,1,1, drafter gate 0.5, auto chunks, greedy,
loops stopped) with `--verifier-confidence BETA`; answers go to the `--out` directory exactly as
`safe-local eval` stores them, keyed by this code's settings hash.

Why not every item runs at every beta: under greedy decoding the condition only ever keeps the
drafted token at a position beta 0 would ensemble, and where beta 0's ensemble confirmed the
drafted token, keeping it is the same step (runs/safe.py `decide`: both continue with the chunk).
So a reply in which beta 0 rejected no drafted token (`rejected` 0 in its record) is the reply
at every beta, token for token; tests/evaluation/test_runner.py checks this on the real models.
`run` therefore generates a beta only on the items where beta 0 rejected a token, and `table`
counts the others with beta 0's answer and says how many it counted that way.

    E=".venv/bin/safe-local eval --preset tiny --stop-loops --chunk auto --threads 1"
    $E --task gsm8k:100,arc-challenge:100,math500:50 --methods qwen2.5-coder-0.5b,safe-gac \\
        --out docs/eval-beta --shard 1/2      # and --shard 2/2 beside it: Qwen alone and beta 0
    .venv/bin/python scripts/verifier_confidence.py run --task gsm8k:100,arc-challenge:100,math500:50 \\
        --out docs/eval-beta --shard 1/2      # and 2/2: betas 0.5, 0.7, 0.9 where beta 0 rejected
    .venv/bin/python scripts/verifier_confidence.py table --task gsm8k:100,arc-challenge:100,math500:50 \\
        --out docs/eval-beta

Left out: the fresh-item report (plain `safe-local eval` runs of beta 0 and the chosen beta, in
full) and sampling, where the argument above does not hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safe_local.cli import build_parser
from safe_local.commands.eval import generation_base, run_missing, tasks_from_args
from safe_local.errors import SafeLocalError
from safe_local.evaluation.code_version import code_version
from safe_local.evaluation.methods import Method, parse_methods
from safe_local.evaluation.results import RESULTS_FILE, ResultLog, read_records
from safe_local.evaluation.runner import plan_runs, regrade
from safe_local.evaluation.stats import sign_test, wilson
from safe_local.placement import model_name
from safe_local.store import select_ensemble

DRAFTER = "qwen2.5-coder-0.5b"
BETAS = (0.5, 0.7, 0.9)


def eval_args(args: argparse.Namespace, beta: float) -> argparse.Namespace:
    """`safe-local eval`'s arguments for `tiny` at this beta, as the rule fixes them."""
    flags = ["eval", "--preset", "tiny", "--stop-loops", "--chunk", "auto", "--task", args.task,
             "--offset", str(args.offset), "--threads", str(args.threads), "--out", str(args.out)]
    # Beta 0 is given too, so the baseline stays beta 0 whatever the preset sets (0 is not hashed).
    return build_parser().parse_args(flags + ["--verifier-confidence", str(beta)])


def methods(args: argparse.Namespace) -> tuple[list[str], dict[float, Method], Method]:
    """The model specs, tiny's method per beta (0 first), and Qwen alone."""
    specs, preset = select_ensemble(None, "tiny")
    names = [model_name(s) for s in specs]
    by_beta = {}
    for beta in (0.0, *args.betas):
        [method] = parse_methods("safe-gac", names, generation_base(eval_args(args, beta), preset))
        by_beta[beta] = method
    [alone] = parse_methods(DRAFTER, names, generation_base(eval_args(args, 0.0), preset))
    return specs, by_beta, alone


def answers(args: argparse.Namespace) -> dict[tuple[str, str, str], dict]:
    """This code's records in --out by (task, item, settings hash), graded by today's grader."""
    records = [r for r in read_records(args.out / RESULTS_FILE) if r.get("settings", {}).get("code") == code_version()]
    return {(r["task"], r["item_id"], r["settings_hash"]): r for r in regrade(records)}


def run(args: argparse.Namespace) -> int:
    specs, by_beta, _ = methods(args)
    tasks = tasks_from_args(eval_args(args, 0.0))
    done = answers(args)
    zero = by_beta[0.0].settings_hash
    missing = [(t, i.id) for t, items in tasks for i in items if (t, i.id, zero) not in done]
    if missing:
        raise SafeLocalError(f"{len(missing)} items have no beta-0 answer of this code in {args.out} "
                             f"(first: {missing[0]}): run the eval command in this script's docstring first")
    changed = [(t, [i for i in items if done[t, i.id, zero]["rejected"] > 0]) for t, items in tasks]
    print(f"beta 0 rejected a drafted token on {sum(len(i) for _, i in changed)} of "
          f"{sum(len(i) for _, i in tasks)} items: each beta runs on those", file=sys.stderr)
    runs = plan_runs(changed, [by_beta[b] for b in args.betas], args.shard)
    with ResultLog(args.out / RESULTS_FILE) as log:
        interrupted = run_missing(eval_args(args, 0.0), specs, runs, log)
    return 130 if interrupted else 0


def table(args: argparse.Namespace) -> int:
    _, by_beta, alone = methods(args)
    tasks = tasks_from_args(eval_args(args, 0.0))
    done = answers(args)
    zero = by_beta[0.0].settings_hash
    planned = [(t, i.id) for t, its in tasks for i in its]
    items = [(t, i) for t, i in planned if (t, i, alone.settings_hash) in done and (t, i, zero) in done]
    print(f"{len(items)} of {len(planned)} items with Qwen alone and beta 0 answered by this code "
          f"({code_version()})\n")
    print("| beta | items | inferred from beta 0 | not run yet | tiny right | lost to Qwen | gained | "
          "gained − lost | sign p |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    net = {}
    for beta, method in by_beta.items():
        right, inferred, missing, lost, gained = 0, 0, 0, 0, 0
        for t, i in items:
            record = done.get((t, i, method.settings_hash))
            if record is None and done[t, i, zero]["rejected"] == 0:
                record, inferred = done[t, i, zero], inferred + 1
            if record is None:
                missing += 1
                continue
            qwen = done[t, i, alone.settings_hash]["correct"]
            right += record["correct"]
            lost += qwen and not record["correct"]
            gained += record["correct"] and not qwen
        n = len(items) - missing
        low, high = wilson(right, n)
        print(f"| {beta:g} | {n} | {inferred} | {missing} | {right}/{n} ({low:.0%}-{high:.0%}) | {lost} | "
              f"{gained} | {gained - lost:+d} | {sign_test(gained, lost):.2f} |")
        if not missing:
            net[beta] = gained - lost
    qwen_right = sum(done[t, i, alone.settings_hash]["correct"] for t, i in items)
    print(f"\nQwen alone: {qwen_right}/{len(items)}")
    if len(net) == len(by_beta) and len(items) == len(planned):
        best = max(net.values())
        chosen = min(b for b, v in net.items() if v == best)  # a tie goes to the smaller beta
        print(f"beta* = {chosen:g} (largest gained − lost, {best:+d}; ties to the smaller beta)")
    else:
        print("beta* not chosen: some items are not answered yet by Qwen alone, beta 0 or a beta")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "table"])
    p.add_argument("--task", required=True, help="as eval's --task, e.g. gsm8k:100,arc-challenge:100,math500:50")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="the eval --out directory holding Qwen alone and beta 0")
    p.add_argument("--betas", type=lambda s: tuple(float(b) for b in s.split(",")), default=BETAS)
    p.add_argument("--shard", type=lambda s: (int(s.split("/")[0]) - 1, int(s.split("/")[1])), default=(0, 1))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    try:
        return run(args) if args.action == "run" else table(args)
    except SafeLocalError as e:
        print(f"verifier_confidence.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
