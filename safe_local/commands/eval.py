"""`safe-local eval`: benchmark methods on real tasks; `safe-local eval report` redraws the report.

    safe-local eval --task gsm8k:100,arc-challenge:100,math500:50 --out eval-results
    safe-local eval --data mine.jsonl --methods single:0,safe-unite --limit 20
    safe-local eval report --out eval-results
    safe-local eval fetch

`--task` takes a comma list of gsm8k, math500, arc-challenge, each with an optional `:N` item
limit (else `--limit`); `--offset` skips items first. Results go to `OUT/results.jsonl` as each
item finishes and the same command resumes an interrupted run; an item of a `--data` file edited
since it ran runs again. `OUT/report.md` and the plots are rewritten at the end from the results
of the items as they are now (see results.current), grading every stored reply again (so a
better answer extraction applies to old results). `fetch` extracts the built-in tasks into the
cache (`make install` runs it). `report` takes only --out and --json, `fetch` no options: an
option they would ignore is an error. The first Ctrl+C stops at the engine's next step (the
item in progress is not saved; exit status 130); a second one interrupts at once.

Generation is greedy unless `--temperature` (> 0) or `--chat-sampling` (the chat's sampler,
safe_local.chat_defaults) asks for sampling; the explicit options win over the shorthand. A
sampled run needs `--seed`: every method starts each item from that seed, so its answers can be
reproduced and paired item by item, and the seed is in the settings hash (another seed's results
are other results). Options greedy decoding ignores (--top-p, --min-p, --seed) are an error when
given without sampling; the shorthand's are dropped, so a greedy run's settings are those of any
greedy run (and its results are reused by a greedy rerun of the same code).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.commands.run import (
    PLACEMENT_HELP,
    add_verifier_confidence_arguments,
    chunk_length,
    float_list,
    model_list,
)
from safe_local.errors import SafeLocalError
from safe_local.evaluation.methods import DEFAULT_CTX
from safe_local.generation_config import SHARPENING, GenerationConfig
from safe_local.placement import model_name

# Evaluation drafts the paper's fixed n = 5 unless told otherwise: the stored results are keyed
# by it, and a fixed length keeps answers independent of the adaptive policy.
EVAL_CHUNK = 5

if TYPE_CHECKING:
    from safe_local.evaluation.data import Item
    from safe_local.evaluation.results import ResultLog

_DEFAULTS = GenerationConfig()
# Preset options the evaluation sets itself: the method per row, the sampler (its own flags, greedy
# unless told), --max-tokens.
_EVAL_OWNED = {"method", "base", "single_model", "temperature", "top_p", "seed", "max_tokens"}
# The sampler flags, as GenerationConfig names; --chat-sampling fills the first four.
_SAMPLER_FLAGS = ("temperature", "top_p", "min_p", "repeat_penalty", "seed")
# What greedy decoding ignores: given to a greedy run they would only change its settings hash.
_SAMPLING_ONLY = ("top_p", "min_p", "seed")
SEED_NEEDED = "sampling needs --seed so answers can be reproduced and paired"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="benchmark each model alone and the ensembles on real tasks")
    p.add_argument("action", nargs="?", choices=["report", "fetch"],
                   help="report: only rewrite the report of --out; fetch: extract the built-in tasks into the cache")
    add_item_arguments(p)
    p.add_argument("--models", "-m", type=model_list, help="comma-separated model names or .gguf paths, drafter first "
                   "(default: the preset's models)" + PLACEMENT_HELP)
    p.add_argument("--preset", "-p", help="a named ensemble (default: tiny); its weights, sharpening and chunk apply")
    p.add_argument("--methods", help="comma list of single:<i> or model names (each model alone), unite, gac, "
                   "safe-unite, safe-gac (default: all)")
    p.add_argument("--max-tokens", type=int, default=2048, help="limit per answer (default 2048, as in the paper)")
    add_sampler_arguments(p)
    p.add_argument("--chunk", type=chunk_length, help=f"SAFE: tokens drafted per cycle, or auto (default {EVAL_CHUNK}, "
                   "the paper's n, which the recorded results used)")
    p.add_argument("--weights", type=float_list, help="per-model weights, drafter first, e.g. 2,1,1")
    p.add_argument("--sharpening", choices=SHARPENING, help=f"default {_DEFAULTS.sharpening}")
    add_verifier_confidence_arguments(p)
    p.add_argument("--stop-loops", action="store_const", const=True, default=None,
                   help="end an answer once it keeps repeating itself, instead of at --max-tokens; such "
                   "an answer is graded only on an answer it states (see docs/results.md)")
    p.add_argument("--ctx", type=int, default=DEFAULT_CTX, help=f"context length per model (prompt + answer; "
                   f"default {DEFAULT_CTX})")
    p.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="K/N",
                   help="run only every N-th item from the K-th (1..N): N processes with the same "
                   "--out share an evaluation (give each --threads so they fit the cores)")
    p.add_argument("--out", type=Path, default=Path("eval-results"), help="results and report directory "
                   "(default ./eval-results)")
    p.add_argument("--json", action="store_true", help="print the per-method figures as one JSON object")
    # Every option's default, so `eval report` and `eval fetch` can refuse the options they would ignore.
    p.set_defaults(handler=eval_command, defaults=vars(p.parse_args([])))


def add_item_arguments(p: argparse.ArgumentParser) -> None:
    """--task/--data, --limit and --offset: which items to answer (eval and tune read them alike)."""
    source = p.add_mutually_exclusive_group()
    source.add_argument("--task", help="gsm8k, math500, arc-challenge, comma-separated, each with an optional "
                        ":N limit (e.g. gsm8k:100,math500:50)")
    source.add_argument("--data", type=Path, help='your own JSONL: {"question","answer"} or '
                        '{"question","choices","answer": index} per line')
    p.add_argument("--limit", type=int, help="items per task (default: all)")
    p.add_argument("--offset", type=int, default=0, help="skip this many items of each task first")


def add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    """--temperature, --top-p, --min-p, --repeat-penalty, --seed and --chat-sampling (default: greedy)."""
    chat = ", ".join(f"{name.replace('_', '-')} {value}" for name, value in CHAT_SAMPLING.items())
    p.add_argument("--temperature", type=float, help="sample at this temperature (default 0: greedy)")
    p.add_argument("--top-p", type=float, help="sampling keeps the likeliest tokens up to this mass (default 1: all)")
    p.add_argument("--min-p", type=float, help="sampling keeps tokens at least P times as likely as the best "
                   "(default 0: off)")
    p.add_argument("--repeat-penalty", type=float, help="divide a recently seen token's logit by this, greedy or "
                   "not (default 1: off)")
    p.add_argument("--seed", type=int, help="sampling's seed, needed when sampling: every method starts each item "
                   "from this same seed, so answers are reproducible and paired across methods")
    p.add_argument("--chat-sampling", action="store_true", help=f"sample as the chat does ({chat}); the options "
                   "above go over it; needs --seed")


def sampler_options(args: argparse.Namespace) -> dict[str, Any]:
    """The GenerationConfig options the sampler flags set: all of them when sampling, when greedy
    only those that change a greedy answer (so a greedy run's settings hold nothing greedy ignores)."""
    given = {name: getattr(args, name) for name in _SAMPLER_FLAGS if getattr(args, name) is not None}
    options = (dict(CHAT_SAMPLING) if args.chat_sampling else {}) | given
    temperature = options.get("temperature", 0.0)
    # NaN passes every comparison in validate(): refuse it here with the infinities.
    if not (math.isfinite(temperature) and temperature >= 0):
        raise SafeLocalError(f"--temperature must be 0 (greedy) or more, got {temperature}")
    if args.seed is not None and args.seed < 0:  # GenerationConfig reads -1 as "a random seed"
        raise SafeLocalError(f"--seed must be 0 or more, got {args.seed}")
    if temperature > 0:
        if args.seed is None:  # without one each item would draw a fresh seed, and a rerun other answers
            raise SafeLocalError(SEED_NEEDED)
        return options
    ignored = [f"--{name.replace('_', '-')}" for name in _SAMPLING_ONLY if name in given]
    if ignored:
        raise SafeLocalError(f"{', '.join(ignored)} {'applies' if len(ignored) == 1 else 'apply'} only when "
                             "sampling: add --temperature T (T > 0) or --chat-sampling")
    return {name: value for name, value in options.items() if name not in _SAMPLING_ONLY} | {"temperature": 0.0}


def generation_base(args: argparse.Namespace, preset_options: dict[str, Any]) -> GenerationConfig:
    """The options every method of the run shares: EVAL_CHUNK, then the preset's (those the
    evaluation does not set itself), then the flags; a flag overrides the preset's value."""
    flags = dict(chunk=args.chunk, weights=args.weights, sharpening=args.sharpening, stop_loops=args.stop_loops,
                 verifier_confidence=args.verifier_confidence, verifier_beats_drafter=args.verifier_beats_drafter)
    return GenerationConfig(
        **({"chunk": EVAL_CHUNK} | {k: v for k, v in preset_options.items() if k not in _EVAL_OWNED}
           | {k: v for k, v in flags.items() if v is not None} | sampler_options(args)),
        max_tokens=args.max_tokens,
    )


def tasks_from_args(args: argparse.Namespace) -> list[tuple[str, list[Item]]]:
    """Each task named by the item arguments, with the items to answer (after --offset and limits)."""
    return [(name, _window(name, items, args.offset, limit)) for name, items, limit in _sources(args)]


def eval_command(args: argparse.Namespace) -> int:
    from safe_local.evaluation.methods import parse_methods
    from safe_local.evaluation.report import write_report
    from safe_local.evaluation.results import RESULTS_FILE, ResultLog, read_records, record_key
    from safe_local.evaluation.runner import plan_runs, regrade
    from safe_local.store import select_ensemble

    results = args.out / RESULTS_FILE
    if args.action:
        _refuse_ignored_options(args)
    if args.action == "fetch":
        _fetch()
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise SafeLocalError(f"--out {args.out} is a file: give a directory for {RESULTS_FILE} and the report")
    if args.action == "report":
        records = regrade(read_records(results))
        if not records:
            raise SafeLocalError(f"no results in {results}: run an evaluation there first, "
                                 f"e.g. safe-local eval --task gsm8k:10 --out {shlex.quote(str(args.out))}")
        records = _current(records, {}, results)
        _print_summary(records, write_report(records, args.out), args.json)
        return 0

    sources = _sources(args)
    tasks = tasks_from_args(args)
    specs, preset_options = select_ensemble(args.models, args.preset)
    base = generation_base(args, preset_options)
    # Results are keyed by model names, not by where the models ran (`name@host:port` loads the same file).
    methods = parse_methods(args.methods, [model_name(s) for s in specs], base, args.ctx)
    for method in methods:
        method.config.validate(len(specs))  # every bad flag fails before anything loads
    runs = plan_runs(tasks, methods, args.shard)
    if not runs:  # only a shard can be empty: every task has an item
        k, n = args.shard
        most = max(len(items) for _, items in tasks)
        raise SafeLocalError(f"--shard {k + 1}/{n} gets no items: no task has more than {most}; "
                             f"use at most {most} shards")
    with ResultLog(results) as log:
        interrupted = run_missing(args, specs, runs, log)
    planned = {run.key for run in runs}
    all_records = regrade(read_records(results))
    records = [r for r in all_records if record_key(r) in planned]
    counted = _current(all_records, {name: items for name, items, _ in sources}, results)
    report = write_report(counted, args.out)
    if interrupted:
        print(f"interrupted: {len(records)} of {len(runs)} results are saved in {results}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    _print_summary(records, report, args.json)
    return 0


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdecimal() and n.isdecimal() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 <= K <= N, e.g. 1/2")
    return int(k) - 1, int(n)


def _refuse_ignored_options(args: argparse.Namespace) -> None:
    """`eval report` reads only --out and --json and `eval fetch` nothing: any other option is a mistake."""
    allowed = {"action"} | ({"out", "json"} if args.action == "report" else set())
    given = [f"--{name.replace('_', '-')}" for name, default in args.defaults.items()
             if name not in allowed and getattr(args, name) != default]
    if given:
        takes = ("only --out and --json: it reports every result in --out" if args.action == "report"
                 else "no options")
        raise SafeLocalError(f"eval {args.action} does not take {', '.join(given)}; it takes {takes}")


def _fetch() -> None:
    from safe_local.evaluation.data import TASKS, task_file, task_items

    for name in TASKS:
        print(f"{name:<14} {len(task_items(name)):>5} items  {task_file(name)}", flush=True)


def _sources(args: argparse.Namespace) -> list[tuple[str, list[Item], int | None]]:
    """Each task to evaluate: its name, every item as it is now, and how many of them to run."""
    from safe_local.evaluation.data import TASKS, task_items, user_items

    if args.limit is not None and args.limit < 1:
        raise SafeLocalError(f"--limit must be at least 1, got {args.limit}")
    if args.offset < 0:
        raise SafeLocalError(f"--offset must be at least 0, got {args.offset}")
    if args.data is not None:
        # Results are keyed by task name: a file named like a built-in task would mix its
        # results with that task's in one table.
        if args.data.stem in TASKS:
            raise SafeLocalError(f"--data {args.data}: {args.data.stem!r} is the name of a built-in task; "
                                 "rename the file")
        return [(args.data.stem, user_items(args.data), args.limit)]
    specs = [s.strip() for s in (args.task or "").split(",") if s.strip()]
    if not specs:
        raise SafeLocalError("say what to evaluate: --task gsm8k|math500|arc-challenge or --data FILE.jsonl")
    sources: list[tuple[str, list[Item], int | None]] = []
    for spec in specs:
        name, colon, limit = spec.partition(":")
        # isdecimal, not isdigit: int() rejects digits such as '²'.
        if colon and not (limit.isdecimal() and int(limit) > 0):
            raise SafeLocalError(f"bad task {spec!r}: the limit after ':' must be a positive whole number")
        if any(name == other for other, _, _ in sources):
            # The same items twice would be run once but counted twice in the progress.
            raise SafeLocalError(f"task {name!r} is given twice in --task; give each task once")
        sources.append((name, task_items(name), int(limit) if limit else args.limit))
    return sources


def _window(name: str, items: list, offset: int, limit: int | None) -> list:
    if offset >= len(items):
        raise SafeLocalError(f"--offset {offset} skips every item of {name}: it has {len(items)}")
    return items[offset:offset + limit] if limit is not None else items[offset:]


def _current(records: list[dict], items_now: dict[str, list[Item]], results: Path) -> list[dict]:
    """The records a report counts (see results.current), saying on stderr what it leaves out."""
    from safe_local.evaluation.results import current

    kept = current(records, items_now)
    if len(kept) < len(records):
        print(f"the report leaves out {len(records) - len(kept)} of the results in {results}: "
              "their items have changed since they ran", file=sys.stderr)
    return kept


def run_missing(args: argparse.Namespace, specs: list[str], runs: list, log: ResultLog) -> bool:
    """Run what the results file lacks, loading the models only if anything does; True if interrupted."""
    from safe_local.api import Ensemble
    from safe_local.evaluation.progress import Progress
    from safe_local.evaluation.runner import other_code_notes, run_pending

    left = sum(run.key not in log.done for run in runs)
    if left < len(runs):
        print(f"resuming: {len(runs) - left} of {len(runs)} results already in {log.path}", file=sys.stderr)
    for note in other_code_notes([run for run in runs if run.key not in log.done], log):
        print(note, file=sys.stderr)
    if left == 0:
        return False
    cancel = threading.Event()
    with Ensemble.load(specs, n_ctx=args.ctx, n_threads=args.threads) as ens:
        progress = Progress(len(runs), len(runs) - left)
        previous = signal.signal(signal.SIGINT, lambda *_: (cancel.set(), signal.signal(signal.SIGINT, previous)))
        try:
            run_pending(ens.engine, runs, log, cancel=cancel, on_record=lambda r: progress.advance(_label(r)))
        finally:
            signal.signal(signal.SIGINT, previous)
            progress.finish()
    return cancel.is_set()


def _label(record: dict) -> str:
    mark = "right" if record["correct"] else "wrong"
    return f"{record['task']} {record['item_id']} {record['method']}: {mark} ({str(record['prediction'])[:24]})"


def _print_summary(records: list[dict], report: Path, as_json: bool) -> None:
    from safe_local.evaluation.report import markdown_table
    from safe_local.evaluation.stats import summarize

    rows = summarize(records)
    if as_json:
        print(json.dumps({"report": str(report), "methods": [r.to_dict() for r in rows]}, ensure_ascii=False))
        return
    for task in dict.fromkeys(r.task for r in rows):
        print(f"## {task}\n\n{markdown_table([r for r in rows if r.task == task])}\n")
    print(f"report: {report}", file=sys.stderr)
