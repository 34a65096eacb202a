"""Running an evaluation: every (task, item, method) not yet in the results file, in order.

Items run in order (the tasks interleaved) and, for each item, every method, so an interrupted run leaves the methods
compared on the same items. Each finished run is graded and appended to the results file at
once. A cancel (the CLI sets it on Ctrl+C) stops the current generation; that partial reply is
not recorded, so the item runs again on resume. `regrade` grades stored replies again for
reports. Left out: loading models, parsing flags and the progress display (callers pass
`on_record`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from safe_local.api import make_messages
from safe_local.engine import Engine
from safe_local.evaluation.answers import grade
from safe_local.evaluation.code_version import code_version, describe
from safe_local.evaluation.data import Item
from safe_local.evaluation.methods import Method
from safe_local.evaluation.prompts import build_prompt
from safe_local.evaluation.results import Key, ResultLog, item_hash, read_records


@dataclass(frozen=True)
class Run:
    task: str
    item: Item
    method: Method

    @property
    def key(self) -> Key:
        return self.task, self.item.id, self.item.content_hash, self.method.label, self.method.settings_hash


def item_order(tasks: Sequence[tuple[str, Sequence[Item]]], shard: tuple[int, int] = (0, 1)) -> list[tuple[str, Item]]:
    """Every (task, item) of the evaluation, the tasks interleaved.

    Each task advances at the same pace relative to its length (with 100, 100 and 50 items: two
    items of each of the first two per item of the third), so a run stopped halfway, or any
    prefix of the order, covers every task about halfway rather than only the first.
    `shard` (k, n) keeps every n-th item of each task from the k-th (0-based), so n processes
    with k = 0..n-1 share the items between them.
    """
    k, n = shard
    order = sorted(
        ((i / len(items), t, item) for t, (_, items) in enumerate(tasks) for i, item in enumerate(items) if i % n == k),
        key=lambda entry: entry[:2],
    )
    return [(tasks[t][0], item) for _, t, item in order]


def plan_runs(
    tasks: Sequence[tuple[str, Sequence[Item]]], methods: Sequence[Method], shard: tuple[int, int] = (0, 1)
) -> list[Run]:
    """Every run of the evaluation, item-major (an item with each method, then the next item),
    items in `item_order`."""
    return [Run(task, item, method) for task, item in item_order(tasks, shard) for method in methods]


def run_pending(
    engine: Engine,
    runs: Sequence[Run],
    log: ResultLog,
    *,
    cancel: threading.Event | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> int:
    """Generate, grade and record each run not already in the log; returns how many ran.

    Stops early (without recording the partial reply) when `cancel` is set.
    """
    cancel = cancel or threading.Event()
    ran = 0
    for run in runs:
        if run.key in log.done:
            continue
        if cancel.is_set():
            break
        # A prompt decoded in other batch shapes (after an earlier item's shared prefix) gets
        # slightly different logits from llama.cpp, enough to flip a greedy near-tie; starting
        # from empty caches makes each result independent of the order and resumes of the run.
        for model in engine.models:
            model.reset()
        result = engine.generate(make_messages(build_prompt(run.item)), run.method.config, cancel)
        if result.stop_reason == "cancelled":
            break
        record = _record(run, result.to_dict())
        log.append(record)
        ran += 1
        if on_record is not None:
            on_record(record)
    return ran


def other_code_notes(runs: Sequence[Run], log: ResultLog) -> list[str]:
    """A line per other code whose answers to `runs` (pending ones) the results file holds, saying
    they are not reused: the code is in the settings hash, and a rerun should not be silent."""
    return [f"not reusing {count} answers in {log.path} made by other code ({code}): they stay there, "
            "labelled in the report; their items run again"
            for code, count in answered_by_other_code(runs, read_records(log.path)).items()]


def answered_by_other_code(runs: Sequence[Run], records: list[dict]) -> dict[str, int]:
    """How many of `runs` the records answer with the same settings but other code, by that code."""
    wanted = {(run.task, run.item.id, run.item.content_hash, run.method.label): _without_code(run.method.settings)
              for run in runs}
    counts: Counter[str] = Counter()
    for r in records:
        settings = r.get("settings") or {}
        key = (r["task"], r["item_id"], item_hash(r), r["method"])
        if key in wanted and settings.get("code") != code_version() and _without_code(settings) == wanted[key]:
            counts[describe(settings.get("code"))] += 1
    return dict(counts)


def _without_code(settings: dict[str, Any]) -> Any:
    """The settings as stored in a results file (JSON), without the code that answered."""
    return json.loads(json.dumps({k: v for k, v in settings.items() if k != "code"}, sort_keys=True, default=list))


def regrade(records: list[dict]) -> list[dict]:
    """The records with prediction and correct taken again from their text by today's grader.

    Reports use this, so an improved extraction applies to results already on disk.
    """
    return [r | asdict(grade(r["text"], r["gold"], r["n_choices"], finished(r["stop_reason"]))) for r in records]


def finished(stop_reason: str) -> bool:
    """Whether a reply ended by itself rather than being cut off (see `grade`)."""
    return stop_reason in ("eos", "stop")


def _record(run: Run, result: dict) -> dict:
    graded = grade(result["text"], run.item.answer, len(run.item.choices), finished(result["stop_reason"]))
    return {
        "task": run.task,
        "item_id": run.item.id,
        "item_hash": run.item.content_hash,
        "method": run.method.label,
        "settings_hash": run.method.settings_hash,
        "kind": run.method.config.method,
        "base": result["base"],
        "models": list(run.method.models),
        "drafter": run.method.models[0],  # as named on the command line, like the method labels
        "gold": run.item.answer,
        "n_choices": len(run.item.choices),
        "prediction": graded.prediction,
        "correct": graded.correct,
        "stop_reason": result["stop_reason"],
        "tokens": result["tokens"],
        "prompt_tokens": result["prompt_tokens"],
        "ensembled": result["ensembled"],
        "ensemble_rate": result["ensemble_rate"],
        # Drafted tokens the ensemble discarded (greedy: 0 means it never changed the drafter's
        # token, so the reply is the same under any verifier_confidence) and positions kept because
        # no verifier was sure; both 0 for a model alone.
        "rejected": result["rejected"],
        "verifiers_unsure": result["verifiers_unsure"],
        "seconds": result["seconds"],
        "tokens_per_s": result["tokens_per_s"],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": run.method.settings,
        "text": result["text"],
    }
