"""The run plan (tasks interleaved, item-major) and results that do not depend on run order."""

from __future__ import annotations

from dataclasses import replace

from safe_local.engine import GenerationConfig
from safe_local.evaluation.data import Item, task_items
from safe_local.evaluation.methods import parse_methods
from safe_local.evaluation.results import ResultLog, read_records
from safe_local.evaluation.runner import plan_runs, run_pending

TRIO = ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]


def _items(prefix: str, n: int) -> list[Item]:
    return [Item(f"{prefix}{i}", f"question {i}", "1") for i in range(n)]


def test_tasks_advance_at_the_same_pace_and_each_item_runs_every_method():
    methods = parse_methods("single:0,safe-unite", TRIO, GenerationConfig())
    runs = plan_runs([("a", _items("a", 4)), ("b", _items("b", 4)), ("c", _items("c", 2))], methods)
    items = [r.item.id for r in runs[::2]]
    assert items == ["a0", "b0", "c0", "a1", "b1", "a2", "b2", "c1", "a3", "b3"]
    assert all([r.method.label for r in runs[i:i + 2]] == ["qwen2.5-coder-0.5b", "safe-unite"] for i in range(0, len(runs), 2))
    assert all(runs[i].item == runs[i + 1].item for i in range(0, len(runs), 2))
    # Stopped halfway, every task is about half done.
    half = {r.task for r in runs[: len(runs) // 2]}
    assert half == {"a", "b", "c"}


def test_an_items_result_does_not_depend_on_what_ran_before_it(trio, tmp_path):
    """llama.cpp's logits depend on how a prompt was batched; the runner starts each run clean."""
    methods = parse_methods("smollm2-135m", TRIO, GenerationConfig(max_tokens=48, temperature=0.0))
    first, second = task_items("gsm8k")[:2]
    with ResultLog(tmp_path / "both.jsonl") as log:
        run_pending(trio, plan_runs([("gsm8k", [first, second])], methods), log)
    smol = trio.models[2]
    decoded = smol.n_decoded
    with ResultLog(tmp_path / "alone.jsonl") as log:
        run_pending(trio, plan_runs([("gsm8k", [second])], methods), log)
    both = read_records(tmp_path / "both.jsonl")
    alone = read_records(tmp_path / "alone.jsonl")
    assert [r["item_id"] for r in both] == [first.id, second.id]
    assert alone[0]["text"] == both[1]["text"] and alone[0]["tokens"] > 0
    # The cache still held this very prompt, yet it was decoded again from the start.
    assert smol.n_decoded - decoded >= alone[0]["prompt_tokens"] + alone[0]["tokens"] - 1


def test_shards_take_every_nth_item_of_each_task_and_together_make_the_plan():
    methods = parse_methods("single:0,safe-unite", TRIO, GenerationConfig())
    tasks = [("a", _items("a", 5)), ("c", _items("c", 2))]
    whole = plan_runs(tasks, methods)
    shards = [plan_runs(tasks, methods, (k, 2)) for k in range(2)]
    assert [r.item.id for r in shards[0][::2]] == ["a0", "c0", "a2", "a4"]
    assert [r.item.id for r in shards[1][::2]] == ["a1", "c1", "a3"]
    assert sorted(r.key for s in shards for r in s) == sorted(r.key for r in whole)


def test_a_greedy_reply_the_ensemble_never_changed_is_the_same_under_any_verifier_confidence(trio, tmp_path):
    """What scripts/verifier_confidence.py relies on to run the betas only where beta 0 rejected a token."""
    base = GenerationConfig(max_tokens=40, temperature=0.0, weights=(4, 1, 1), drafter_gate=0.5, chunk="auto")
    betas = {beta: parse_methods("safe-gac", TRIO, replace(base, verifier_confidence=beta))[0] for beta in (0, 0.9, 1)}
    items = task_items("gsm8k")[:3]
    with ResultLog(tmp_path / "results.jsonl") as log:
        for method in betas.values():
            run_pending(trio, plan_runs([("gsm8k", items)], [method]), log)
    records = {(r["item_id"], r["settings"]["config"].get("verifier_confidence", 0)): r
               for r in read_records(tmp_path / "results.jsonl")}
    unchanged = [item.id for item in items if records[item.id, 0]["rejected"] == 0]
    assert unchanged, "no item the ensemble left alone: the property is not exercised"
    for item_id in unchanged:
        assert records[item_id, 0.9]["text"] == records[item_id, 1]["text"] == records[item_id, 0]["text"]
    assert all(r["verifiers_unsure"] == 0 for (_, beta), r in records.items() if beta == 0)
    assert any(r["verifiers_unsure"] > 0 for (_, beta), r in records.items() if beta == 1) or all(
        r["ensembled"] == 0 for r in records.values())
