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

The fresh items (rule step 2) take an offset per task after `@`; Qwen alone and beta 0 are plain
eval runs there too, beta* runs by the same shortcut, and `fresh` prints the report and rule 3's verdict:

    F=gsm8k:100@300,arc-challenge:100@300,math500:50@100
    $E --task gsm8k,arc-challenge --offset 300 --limit 100 --methods qwen2.5-coder-0.5b,safe-gac \
        --out docs/eval-beta-fresh --shard 1/2    # and 2/2; then math500 with --offset 100 --limit 50
    .venv/bin/python scripts/verifier_confidence.py run --task $F --betas BETA* --out docs/eval-beta-fresh
    .venv/bin/python scripts/verifier_confidence.py fresh --task $F --betas BETA* --out docs/eval-beta-fresh

Left out: sampling, where the argument above does not hold.
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


def eval_args(args: argparse.Namespace, beta: float, task: str | None = None, offset: int | None = None) -> argparse.Namespace:
    """`safe-local eval`'s arguments for `tiny` at this beta, as the rule fixes them."""
    flags = ["eval", "--preset", "tiny", "--stop-loops", "--chunk", "auto", "--task", task or args.task,
             "--offset", str(args.offset if offset is None else offset), "--threads", str(args.threads),
             "--out", str(args.out)]
    # Beta 0 is given too, so the baseline stays beta 0 whatever the preset sets (0 is not hashed).
    return build_parser().parse_args(flags + ["--verifier-confidence", str(beta)])


def planned_tasks(args: argparse.Namespace) -> list[tuple[str, list]]:
    """Each task's items: `--task` is eval's, except that each task may end in `@OFFSET`
    (the fresh items start at 300 in GSM8K and ARC but at 100 in MATH-500)."""
    tasks = []
    for part in args.task.split(","):
        spec, _, offset = part.partition("@")
        if offset and not offset.isdigit():
            raise SafeLocalError(f"--task {part!r}: the offset after @ must be a whole number, e.g. gsm8k:100@300")
        tasks += tasks_from_args(eval_args(args, 0.0, spec, int(offset) if offset else args.offset))
    return tasks


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
    tasks = planned_tasks(args)
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


def counted(done: dict, items: list, method: Method, zero: str) -> dict[tuple[str, str], dict]:
    """The record each item counts for `method`: its own, else beta 0's where beta 0 rejected nothing."""
    kept = {}
    for t, i in items:
        record = done.get((t, i, method.settings_hash))
        if record is None and done[t, i, zero]["rejected"] == 0:
            record = dict(done[t, i, zero], inferred=True)
        if record is not None:
            kept[t, i] = record
    return kept


def paired(ours: dict[tuple[str, str], dict], theirs: dict[tuple[str, str], dict]) -> tuple[int, int]:
    """(lost, gained): items `theirs` gets right and `ours` wrong, and the other way round."""
    both = ours.keys() & theirs.keys()
    lost = sum(theirs[k]["correct"] and not ours[k]["correct"] for k in both)
    gained = sum(ours[k]["correct"] and not theirs[k]["correct"] for k in both)
    return lost, gained


def right_text(records: dict) -> str:
    right, n = sum(r["correct"] for r in records.values()), len(records)
    low, high = wilson(right, n)
    return f"{right}/{n} ({low:.0%}-{high:.0%})"


def answered(args: argparse.Namespace) -> tuple[dict[float, Method], Method, dict, list, list]:
    """Methods, this code's records, the planned items, and those Qwen alone and beta 0 both answered."""
    _, by_beta, alone = methods(args)
    done = answers(args)
    zero = by_beta[0.0].settings_hash
    planned = [(t, i.id) for t, its in planned_tasks(args) for i in its]
    items = [(t, i) for t, i in planned if (t, i, alone.settings_hash) in done and (t, i, zero) in done]
    print(f"{len(items)} of {len(planned)} items with Qwen alone and beta 0 answered by this code "
          f"({code_version()})\n")
    return by_beta, alone, done, planned, items


def table(args: argparse.Namespace) -> int:
    by_beta, alone, done, planned, items = answered(args)
    zero = by_beta[0.0].settings_hash
    qwen = {(t, i): done[t, i, alone.settings_hash] for t, i in items}
    print("| beta | items | inferred from beta 0 | not run yet | tiny right | lost to Qwen | gained | "
          "gained − lost | sign p |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    net = {}
    for beta, method in by_beta.items():
        ours = counted(done, items, method, zero)
        lost, gained = paired(ours, qwen)
        inferred = sum(r.get("inferred", False) for r in ours.values())
        missing = len(items) - len(ours)
        print(f"| {beta:g} | {len(ours)} | {inferred} | {missing} | {right_text(ours)} | {lost} | "
              f"{gained} | {gained - lost:+d} | {sign_test(gained, lost):.2f} |")
        if not missing:
            net[beta] = gained - lost
    print(f"\nQwen alone: {sum(r['correct'] for r in qwen.values())}/{len(items)}")
    if len(net) == len(by_beta) and len(items) == len(planned):
        best = max(net.values())
        chosen = min(b for b, v in net.items() if v == best)  # a tie goes to the smaller beta
        print(f"beta* = {chosen:g} (largest gained − lost, {best:+d}; ties to the smaller beta)")
    else:
        print("beta* not chosen: some items are not answered yet by Qwen alone, beta 0 or a beta")
    return 0


def fresh(args: argparse.Namespace) -> int:
    """Rule steps 2 and 3 on the fresh items: beta* and beta 0 against Qwen alone, loss count first,
    then beta* against beta 0, per task and in all, and whether `tiny` adopts beta*."""
    if len(args.betas) != 1:
        raise SafeLocalError(f"fresh reports one chosen beta, got --betas {','.join(map(str, args.betas))}")
    by_beta, alone, done, planned, items = answered(args)
    zero, chosen = by_beta[0.0], by_beta[args.betas[0]]
    qwen = {(t, i): done[t, i, alone.settings_hash] for t, i in items}
    zeros, ours = counted(done, items, zero, zero.settings_hash), counted(done, items, chosen, zero.settings_hash)
    print("| items | Qwen alone right | tiny | lost to Qwen | gained | sign p | tiny right |")
    print("|---|---|---|---:|---:|---:|---|")
    rows = {0.0: zeros} | ({args.betas[0]: ours} if args.betas[0] else {})
    for task in [*dict.fromkeys(t for t, _ in items), None]:
        qwen_part = {k: r for k, r in qwen.items() if task is None or k[0] == task}
        for beta, records in rows.items():
            tiny_part = {k: records[k] for k in qwen_part if k in records}
            lost, gained = paired(tiny_part, qwen_part)
            print(f"| {task or 'all'} | {right_text(qwen_part)} | beta {beta:g} | {lost} | {gained} | "
                  f"{sign_test(gained, lost):.2f} | {right_text(tiny_part)} |")
    if args.betas[0] == 0:
        print("\nbeta* is 0: `tiny` stays at beta 0 (nothing to adopt)")
        return 0
    lost, gained = paired(ours, zeros)
    print(f"\nbeta {args.betas[0]:g} against beta 0: lost {lost}, gained {gained}, sign p "
          f"{sign_test(gained, lost):.2f} ({sum(r.get('inferred', False) for r in ours.values())} of "
          f"{len(ours)} answers inferred from beta 0, which rejected no drafted token there)")
    if len(items) < len(planned) or len(ours) < len(items):
        print("no verdict: some fresh items are not answered yet")
        return 0
    lost_star, lost_zero = paired(ours, qwen)[0], paired(zeros, qwen)[0]
    adopt = lost_star < lost_zero and gained >= lost
    print(f"rule 3: beta* loses {lost_star} pairs to Qwen alone, beta 0 loses {lost_zero}; beta* against beta 0 "
          f"gains {gained} and loses {lost}: `tiny` {'adopts' if adopt else 'stays at beta 0, not'} beta {args.betas[0]:g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["run", "table", "fresh"])
    p.add_argument("--task", required=True, help="as eval's --task, each task with an optional @OFFSET, "
                   "e.g. gsm8k:100@300,arc-challenge:100@300,math500:50@100")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="the eval --out directory holding Qwen alone and beta 0")
    p.add_argument("--betas", type=lambda s: tuple(float(b) for b in s.split(",")), default=BETAS)
    p.add_argument("--shard", type=lambda s: (int(s.split("/")[0]) - 1, int(s.split("/")[1])), default=(0, 1))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    try:
        return {"run": run, "table": table, "fresh": fresh}[args.action](args)
    except SafeLocalError as e:
        print(f"verifier_confidence.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
