"""`safe-local tune`: find an ensemble's settings on a dev set, by successive halving.

    safe-local tune --preset tiny --task gsm8k:40 --budget 60 --out tune-results --save tuned

Every combination of drafter, drafter weight, base, sharpening, drafter gate, chunk length and
verifier confidence (safe_local.evaluation.tune) answers the first few items; the better half goes on to twice as
many, and so on. Each model alone answers the same items, so every configuration is compared
with its drafter's speed and with the best member's accuracy. Answers are stored in
OUT/results.jsonl like `eval`'s, so the same command resumes where a budget or Ctrl+C stopped it.
At the end: OUT/tune.md (the ranking with 95 % intervals, the winner against the best member,
item by item, and each configuration's gains and losses against its drafter alone) and
OUT/front.png (accuracy against speed); `--save NAME` writes the winner into the user's config as
a preset, unless it loses more items than it gains against its drafter alone: then nothing is
saved, and when no configuration gains more than it loses the report says ensembling does not pay
on these items. Generation is greedy; answers that loop end early (`--stop-loops`
is always on here: a search has no time for 2,048-token loops).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from safe_local.commands.eval import add_item_arguments, tasks_from_args
from safe_local.commands.run import model_list
from safe_local.errors import SafeLocalError
from safe_local.evaluation.methods import DEFAULT_CTX
from safe_local.generation_config import BASES


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


def _chunks(text: str) -> tuple[int | str, ...]:
    try:
        return tuple(x if x == "auto" else int(x) for x in _names(text.lower()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma list of whole numbers or auto") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="search an ensemble's settings on a dev set and save the best as a preset")
    add_item_arguments(p)
    p.add_argument("--models", "-m", type=model_list, help="the ensemble's models (default: the preset's)")
    p.add_argument("--preset", "-p", help="take the models from this preset (default: tiny)")
    p.add_argument("--drafters", type=_names, help="models to try as the drafter, or all (default: the first)")
    p.add_argument("--weights", type=_numbers, help="drafter weights to try, each verifier weighing 1 (default 1,2,4)")
    p.add_argument("--bases", type=_names, help=f"bases to try (default {','.join(BASES)})")
    p.add_argument("--sharpening", type=_names, help="sharpening modes to try (default heuristic,geometric)")
    p.add_argument("--gates", type=_numbers, help="drafter gates to try, 1 = none (default 1,0.5)")
    p.add_argument("--chunks", type=_chunks, help="chunk lengths to try (default auto)")
    p.add_argument("--betas", type=_numbers, help="verifier confidences to try: ensemble only where a verifier is "
                   "this sure of its own token, 0 = always (default 0,0.5,0.7,0.9)")
    p.add_argument("--first-items", type=int, default=4, help="items every configuration answers (default 4)")
    p.add_argument("--min-speed", type=float, default=0.0,
                   help="rank configurations slower than this fraction of their drafter below the rest (e.g. 0.6)")
    p.add_argument("--budget", type=float, help="stop after this many minutes (the same command resumes)")
    p.add_argument("--max-tokens", type=int, default=1024, help="limit per answer (default 1024)")
    p.add_argument("--ctx", type=int, default=DEFAULT_CTX, help=f"context length per model (default {DEFAULT_CTX})")
    p.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    p.add_argument("--out", type=Path, default=Path("tune-results"), help="results directory (default ./tune-results)")
    p.add_argument("--save", metavar="NAME", help="write the winner into your config.toml as preset NAME")
    p.set_defaults(handler=tune_command)


def tune_command(args: argparse.Namespace) -> int:
    from safe_local.evaluation.runner import item_order
    from safe_local.evaluation.tune import Space, configurations, rung_sizes, save_refusal
    from safe_local.generation_config import GenerationConfig
    from safe_local.placement import place
    from safe_local.store import select_ensemble

    if args.out.exists() and not args.out.is_dir():
        raise SafeLocalError(f"--out {args.out} is a file: give a directory for the results")
    if args.first_items < 1:
        raise SafeLocalError(f"--first-items must be at least 1, got {args.first_items}")
    if args.budget is not None and not args.budget > 0:
        raise SafeLocalError(f"--budget must be a positive number of minutes, got {args.budget}")
    tasks = tasks_from_args(args)
    specs, _ = select_ensemble(args.models, args.preset)
    specs, endpoints = place(specs)  # configurations and results name models; the placement only loads them
    placement = {name: endpoint for name, endpoint in zip(specs, endpoints) if endpoint}
    drafters = tuple(specs) if args.drafters == ("all",) else (args.drafters or (specs[0],))
    space = Space(drafters=drafters, **{k: getattr(args, k) for k in ("weights", "bases", "sharpening", "gates",
                                                                      "chunks", "betas") if getattr(args, k) is not None})
    base = GenerationConfig(max_tokens=args.max_tokens, temperature=0.0, stop_loops=True)
    configs = configurations(specs, space, base)
    pool = item_order(tasks)  # interleaved, so every rung's prefix covers every task
    rungs = rung_sizes(len(configs), len(pool), args.first_items)
    print(f"tune: {len(configs)} configurations of {', '.join(specs)}; rungs (configurations x items): "
          + ", ".join(f"{k}x{n}" for k, n in rungs), file=sys.stderr)
    search = _Search(args, specs, base, tasks, pool, placement)
    ranked, finished = search.run(configs, rungs)
    report = search.report(ranked, finished)
    print(report.read_text(encoding="utf-8"))
    if not finished:
        print(f"stopped before the last rung: run the same command again to resume ({search.results})",
              file=sys.stderr)
        if args.save:
            print("not saved: a preset is saved only from a finished search", file=sys.stderr)
        return 130
    if args.save:
        refusal = save_refusal(ranked[0])
        if refusal:
            print(refusal, file=sys.stderr)
            return 1
        _save(args.save, ranked[0].method, search.placement)
    return 0


class _Search:
    """The rungs of one tune run: what to generate, on which loaded models, and the report."""

    def __init__(self, args: argparse.Namespace, specs: list[str], base, tasks: list, pool: list,
                 placement: dict[str, str]):
        from safe_local.evaluation.methods import parse_methods
        from safe_local.evaluation.results import RESULTS_FILE

        self.args, self.specs, self.pool, self.placement = args, specs, pool, placement
        self.results = args.out / RESULTS_FILE
        self.singles = parse_methods(",".join(f"single:{i}" for i in range(len(specs))), specs, base, args.ctx)
        self.cancel = threading.Event()
        self.items_run: list = []

    def run(self, configs: list, rungs: list[tuple[int, int]]) -> tuple[list, bool]:
        """Run the rungs (what is not stored yet); returns the last complete ranking and whether all ran."""
        from safe_local.api import Ensemble
        from safe_local.evaluation.results import ResultLog
        from safe_local.evaluation.tune import rank

        alive, ranked = list(configs), []
        timer = threading.Timer(60 * self.args.budget, self.cancel.set) if self.args.budget else None
        previous = signal.signal(signal.SIGINT, lambda *_: (self.cancel.set(), signal.signal(signal.SIGINT, previous)))
        ens = None
        try:
            if timer:
                timer.start()
            with ResultLog(self.results) as log:
                for number, (keep, n_items) in enumerate(rungs, start=1):
                    alive = [s.method for s in ranked[:keep]] if ranked else alive
                    items = self.pool[:n_items]
                    runs = self._runs(items, alive)
                    if any(run.key not in log.done for run in runs) and ens is None:
                        ens = Ensemble.load(self.specs, n_ctx=self.args.ctx, n_threads=self.args.threads,
                                            placement=self.placement)
                    if not self._run_pending(ens, runs, log, f"rung {number}/{len(rungs)}"):
                        return ranked, False
                    self.items_run = items
                    ranked = rank(self._standings(alive, items), self.args.min_speed)
                    print(f"rung {number}: best of {len(alive)} on {n_items} items: {ranked[0].method.label} "
                          f"({ranked[0].correct}/{ranked[0].n})", file=sys.stderr)
            return ranked, True
        finally:
            if timer:
                timer.cancel()
            signal.signal(signal.SIGINT, previous)
            if ens is not None:
                ens.close()

    def _runs(self, items: list, methods: list) -> list:
        from safe_local.evaluation.runner import Run

        return [Run(task, item, m) for task, item in items for m in [*self.singles, *methods]]

    def _run_pending(self, ens, runs: list, log, what: str) -> bool:
        """Generate the runs not stored yet, each on the models in its drafter-first order."""
        from safe_local.engine import Engine
        from safe_local.evaluation.progress import Progress
        from safe_local.evaluation.runner import other_code_notes, run_pending

        left = [run for run in runs if run.key not in log.done]
        if not left:
            return True
        for note in other_code_notes(left, log):
            print(note, file=sys.stderr)
        by_name = dict(zip(self.specs, ens.models)) if ens is not None else {}
        progress = Progress(len(runs), len(runs) - len(left))
        print(what, file=sys.stderr)
        try:
            for order in dict.fromkeys(self._order(run.method) for run in left):
                engine = ens.engine if list(order) == self.specs else Engine([by_name[n] for n in order])
                group = [run for run in left if self._order(run.method) == order]
                run_pending(engine, group, log, cancel=self.cancel,
                            on_record=lambda r: progress.advance(f"{r['task']} {r['item_id']} {r['method']}: "
                                                                 f"{'right' if r['correct'] else 'wrong'}"))
                if self.cancel.is_set():
                    return False
        finally:
            progress.finish()
        return True

    def _order(self, method) -> tuple[str, ...]:
        return tuple(self.specs) if method.config.method == "single" else method.models

    def _records(self) -> list[dict]:
        from safe_local.evaluation.results import read_records
        from safe_local.evaluation.runner import regrade

        return regrade(read_records(self.results))

    def _standings(self, methods: list, items: list) -> list:
        from safe_local.evaluation.tune import standings

        return standings(methods, self._records(), _keys(items))

    def report(self, ranked: list, finished: bool) -> Path:
        """OUT/tune.md and OUT/front.png from the last complete rung."""
        from safe_local.evaluation.stats import wilson
        from safe_local.evaluation.tune import does_not_pay

        records = self._records()
        items = _keys(self.items_run)
        singles = self._standings(self.singles, self.items_run) if items else []
        best_single = max(singles, key=lambda s: s.correct) if singles else None
        lines = [f"# tune: {', '.join(self.specs)}", "",
                 f"{'Finished' if finished else 'Stopped early'}: {len(ranked)} configurations ranked on the "
                 f"{len(items)} items of the last complete rung (greedy, loops stopped, max tokens "
                 f"{self.args.max_tokens}). Speed: median over items of tokens/s over the drafter's alone.", "",
                 "Lost / gained: items the configuration gets wrong and its drafter alone right, and the "
                 "reverse (loss count first).", "",
                 "| rank | configuration | correct | accuracy (95 % CI) | lost / gained vs drafter | speed vs drafter |",
                 "|---:|---|---:|---|---:|---:|"]
        for i, s in enumerate([*ranked, *singles], start=1):
            low, high = wilson(s.correct, s.n)
            alone = s.method.config.method == "single"
            name = f"{s.method.label} alone" if alone else s.method.label
            speed = f"{s.speed:.2f}×" if s.speed is not None else "–"
            paired = "" if alone else f"{s.lost} / {s.gained}"
            lines.append(f"| {i if s in ranked else ''} | {name} | {s.correct}/{s.n} | "
                         f"{100 * s.accuracy:.0f}% ({100 * low:.0f}–{100 * high:.0f}%) | {paired} | {speed} |")
        verdict = does_not_pay(ranked)
        if verdict:
            lines += ["", verdict]
        if ranked and best_single is not None:
            gained, lost = _paired(records, ranked[0].method, best_single.method, items)
            lines += ["", f"Winner against the best member alone ({best_single.method.label}), item by item: "
                      f"{gained} gained, {lost} lost, on {len(items)} items."]
        self.args.out.mkdir(parents=True, exist_ok=True)
        lines += ["", f"![accuracy against speed]({_plot(ranked, singles, self.args.out)})"]
        path = self.args.out / "tune.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _keys(items: list) -> set[tuple[str, str, str]]:
    """(task, item id, content hash) of each (task, Item): what a record must match to count for it."""
    return {(task, item.id, item.content_hash) for task, item in items}


def _paired(records: list[dict], a, b, items: set) -> tuple[int, int]:
    """Items `a` got right and `b` wrong, and the reverse (`items` as from _keys)."""
    from safe_local.evaluation.results import item_hash

    def right(method) -> dict:
        return {(r["task"], r["item_id"], item_hash(r)): bool(r["correct"]) for r in records
                if r["method"] == method.label and r["settings_hash"] == method.settings_hash}
    ra, rb = right(a), right(b)
    both = [k for k in items if k in ra and k in rb]
    return sum(ra[k] and not rb[k] for k in both), sum(rb[k] and not ra[k] for k in both)


def _plot(ranked: list, singles: list, out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    from safe_local.evaluation.tune import front

    points = [(s.speed or 0.0, 100 * s.accuracy) for s in ranked]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter([p[0] for p in points], [p[1] for p in points], color="#2e7dbf", label="configurations")
    edge = [points[i] for i in front(points)]
    ax.plot([p[0] for p in edge], [p[1] for p in edge], color="#2e7dbf", linewidth=1, label="front")
    for s in ranked[:3]:
        ax.annotate(s.method.label, (s.speed or 0.0, 100 * s.accuracy), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    for s in singles:  # a model alone: its accuracy as a line to beat
        ax.axhline(100 * s.accuracy, color="#9e9e9e", linewidth=0.8, linestyle="--")
        ax.annotate(f"{s.method.label} alone", (0, 100 * s.accuracy), fontsize=7, color="#616161",
                    xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("tokens/s relative to the drafter alone")
    ax.set_ylabel("accuracy (%) on the last rung's items")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "front.png", dpi=110)
    plt.close(fig)
    return "front.png"


def _save(name: str, method, placement: dict[str, str]) -> None:
    from safe_local.config import save_preset

    config = method.config
    entry = {"description": f"found by safe-local tune: {method.label}", "models": list(method.models),
             "method": "safe", "base": config.base, "weights": list(config.weights),
             "defaults": {"sharpening": config.sharpening, "drafter_gate": config.drafter_gate, "chunk": config.chunk}}
    if config.verifier_confidence > 0:
        entry["defaults"]["verifier_confidence"] = config.verifier_confidence
    if placement:  # where the models ran stays with the preset, in the form presets take it
        entry["rpc"] = dict(placement)
    path = save_preset(name, entry)
    print(f"saved preset {name!r} in {path}: safe-local chat --preset {name}", file=sys.stderr)
