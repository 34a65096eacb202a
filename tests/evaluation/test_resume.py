"""Resuming: an interrupted `safe-local eval` keeps what it finished and the rerun does only the rest.

Results are found again by item, content included: an edited item of a user's file runs again
and only the results of the items as they are now count.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safe_local.cli import main
from safe_local.engine import GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.evaluation.data import Item
from safe_local.evaluation.methods import parse_methods
from safe_local.evaluation.results import ResultLog, current, read_records, record_key
from safe_local.evaluation.runner import plan_runs

# SmolLM2 alone, the fastest model. The interrupt comes as soon as the second result is on disk,
# while the third item (its prompt alone takes longer than the polling interval) is running.
# One thread: see THREADS in test_eval_cli.py.
ARGS = ["eval", "--task", "gsm8k:3", "--models", "smollm2-135m", "--max-tokens", "16", "--threads", "1"]


def _lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []


def test_ctrl_c_then_rerun_runs_only_the_missing_items(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "safe_local", *ARGS, "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while len(_lines(results)) < 2 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted:" in err and "run the same command again to resume" in err
    before = _lines(results)
    assert len(before) == 2  # the item in progress was not saved

    assert main([*ARGS, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "resuming: 2 of 3 results already in" in err
    ran = [line for line in err.splitlines() if line[:1].isdigit() and "/3 [" in line]
    assert len(ran) == 1 and ran[0].startswith("3/3 [")  # one progress line per run generated
    after = _lines(results)
    assert after[:2] == before  # finished results are kept byte for byte
    records = [json.loads(line) for line in after]
    assert [r["item_id"] for r in records] == ["0", "1", "2"]
    assert len({record_key(r) for r in records}) == 3 and all(r["stop_reason"] != "cancelled" for r in records)


def test_a_record_torn_by_a_crash_is_dropped_and_appending_continues(tmp_path):
    path = tmp_path / "results.jsonl"
    whole = [{"task": "t", "item_id": str(i), "method": "m", "settings_hash": "h"} for i in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in whole) + '{"task": "t", "item_id": "2", "met',
                    encoding="utf-8")
    assert read_records(path) == whole
    with ResultLog(path) as log:
        assert log.done == {("t", "0", "", "m", "h"), ("t", "1", "", "m", "h")}
        log.append({"task": "t", "item_id": "2", "method": "m", "settings_hash": "h"})
    assert [r["item_id"] for r in read_records(path)] == ["0", "1", "2"]
    assert path.read_text(encoding="utf-8").count("\n") == 3


@pytest.mark.parametrize("line", ["not json", "[1]", "{}", '{"task": "gsm8k", "acc": 0.5}'])
def test_a_line_that_is_no_result_is_a_one_line_error_naming_it(tmp_path, line):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"task": "t", "item_id": "0", "method": "m", "settings_hash": "h"}) + "\n" + line + "\n",
                    encoding="utf-8")
    with pytest.raises(SafeLocalError) as info:
        read_records(path)
    assert str(info.value) == f"{path}:2 is not a safe-local eval result; give --out a directory of its own, or remove that line"


def test_results_stored_before_items_had_hashes_still_count_for_the_built_in_tasks(tmp_path):
    method = parse_methods("single:0", ["smollm2-135m"], GenerationConfig())[0]
    built_in, edited = Item("0", "q", "1"), Item("0", "q", "1", content_hash="abc")
    path = tmp_path / "results.jsonl"
    # The key fields of a record as the code wrote it before: no "item_hash".
    path.write_text(json.dumps({"task": "gsm8k", "item_id": "0", "method": method.label,
                                "settings_hash": method.settings_hash}) + "\n", encoding="utf-8")
    with ResultLog(path) as log:
        assert plan_runs([("gsm8k", [built_in])], [method])[0].key in log.done
        assert plan_runs([("gsm8k", [edited])], [method])[0].key not in log.done  # a user's item runs again


def _versions(task: str, *versions: tuple[str, str]) -> list[dict]:
    return [{"task": task, "item_id": item_id, "item_hash": h, "method": "m", "settings_hash": "s"}
            for item_id, h in versions]


def test_reports_count_the_items_as_they_are_now():
    records = [*_versions("mine", ("1", "a"), ("2", "b"), ("3", "c"), ("2", "b2")),
               *_versions("other", ("1", "x"), ("2", "z"), ("1", "y")), *_versions("gsm8k", ("0", ""))]
    now = [Item("1", "q", "1", content_hash="a"), Item("2", "q", "1", content_hash="b")]  # 2 edited back, 3 gone
    kept = current(records, {"mine": now})
    assert [(r["task"], r["item_id"], r["item_hash"]) for r in kept] == [
        ("mine", "1", "a"), ("mine", "2", "b"), ("other", "2", "z"), ("other", "1", "y"), ("gsm8k", "0", "")]
    # Without the items at hand (`eval report`): the version of each item run last.
    assert [(r["item_id"], r["item_hash"]) for r in current(records, {}) if r["task"] == "mine"] == [
        ("1", "a"), ("3", "c"), ("2", "b2")]


def test_a_result_stored_twice_by_two_processes_counts_once(tmp_path):
    path = tmp_path / "results.jsonl"
    # Two processes open the file before either has stored the item, then both run it.
    with ResultLog(path) as first, ResultLog(path) as second:
        first.append({"task": "t", "item_id": "0", "method": "m", "settings_hash": "h", "text": "first"})
        second.append({"task": "t", "item_id": "0", "method": "m", "settings_hash": "h", "text": "second"})
        second.append({"task": "t", "item_id": "1", "method": "m", "settings_hash": "h", "text": "other"})
    assert path.read_text(encoding="utf-8").count("\n") == 3  # nothing written is lost
    assert [(r["item_id"], r["text"]) for r in read_records(path)] == [("0", "first"), ("1", "other")]


def _append_many(path: str, worker: int, count: int) -> None:
    with ResultLog(Path(path)) as log:
        for i in range(count):
            # Records larger than a pipe buffer or a stdio buffer, so an unlocked writer would tear them.
            log.append({"task": "t", "item_id": f"{worker}-{i}", "method": "m", "settings_hash": "h",
                        "text": f"{worker}" * 70_000})


def test_shards_appending_to_one_file_at_once_never_tear_records(tmp_path):
    path = tmp_path / "results.jsonl"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(path), w, 40)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line is one whole record
    assert len(records) == 120 and len({r["item_id"] for r in records}) == 120
    assert all(r["text"] == r["item_id"].split("-")[0] * 70_000 for r in records)


def test_shards_split_the_items_of_each_task_between_them(tmp_path, capsys):
    args = ["eval", "--task", "gsm8k:3", "--models", "smollm2-135m", "--max-tokens", "4", "--threads", "1",
            "--out", str(tmp_path)]
    assert main([*args, "--shard", "2/2"]) == 0
    assert [r["item_id"] for r in read_records(tmp_path / "results.jsonl")] == ["1"]
    assert main([*args, "--shard", "1/2"]) == 0
    assert [r["item_id"] for r in read_records(tmp_path / "results.jsonl")] == ["1", "0", "2"]
    capsys.readouterr()
    assert main(args) == 0  # the whole evaluation is now complete: nothing runs
    assert "resuming: 3 of 3" in capsys.readouterr().err
