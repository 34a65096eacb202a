"""`safe-local eval` end to end on the real models: a 3-item eval of each task, its report, and errors.

One run covers all three tasks (SmolLM2 drafting for Gemma 3 so it stays fast on two cores; 16
tokens an answer), then the report is rebuilt from the results file alone. Models run with one
thread each (THREADS): on a 2-core machine shared with other test runs, llama.cpp's two-thread
barriers spin against the other processes and a 16-token answer can take a minute.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from safe_local.api import Ensemble
from safe_local.cli import main
from safe_local.evaluation.answers import grade
from safe_local.evaluation.data import task_items
from safe_local.evaluation.results import read_records, record_key
from safe_local.evaluation.runner import finished

MODELS = "smollm2-135m,gemma3-270m"
THREADS = ["--threads", "1"]
TASKS = ("gsm8k", "math500", "arc-challenge")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    args = ["eval", "--task", "gsm8k:3,math500:3,arc-challenge", "--limit", "3", "--models", MODELS,
            "--methods", "single:0,safe-unite", "--max-tokens", "16", "--stop-loops", "--out", str(out), *THREADS]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main([*args, "--json"])
    return out, args, status, json.loads(stdout.getvalue())


def test_each_task_runs_three_items_with_each_method(run):
    out, _, status, _ = run
    assert status == 0
    records = read_records(out / "results.jsonl")
    assert len(records) == 18 and len({record_key(r) for r in records}) == 18
    for task in TASKS:
        items = task_items(task)[:3]
        mine = [r for r in records if r["task"] == task]
        assert [r["item_id"] for r in mine] == [i.id for i in items for _ in range(2)]  # item-major
        assert [r["method"] for r in mine[:2]] == ["smollm2-135m", "safe-unite"]
        for r, item in zip(mine, [i for i in items for _ in range(2)]):
            assert r["gold"] == item.answer and r["n_choices"] == len(item.choices)
            assert r["text"] and 0 < r["tokens"] <= 16
            graded = grade(r["text"], item.answer, len(item.choices), finished(r["stop_reason"]))
            assert (r["prediction"], r["correct"]) == (graded.prediction, graded.correct)
    safe = [r for r in records if r["method"] == "safe-unite"]
    assert all(r["kind"] == "safe" and r["base"] == "unite" and r["models"] == MODELS.split(",") for r in safe)
    assert all(r["settings"]["config"]["temperature"] == 0.0 for r in records)  # greedy
    assert all(r["settings"]["config"]["stop_loops"] is True for r in records)


def test_json_summary_has_every_method_of_every_task(run):
    _, _, _, summary = run
    rows = {(m["task"], m["method"]): m for m in summary["methods"]}
    assert set(rows) == {(t, m) for t in TASKS for m in ("smollm2-135m", "safe-unite")}
    for row in rows.values():
        assert row["n"] == 3 and 0 <= row["ci_low"] <= row["accuracy"] <= row["ci_high"] <= 1
        assert row["tokens_per_s"] > 0 and row["speed_vs_drafter"] is not None
    assert all(rows[t, "smollm2-135m"]["ensemble_rate"] == 0 for t in TASKS)


def test_report_is_written_and_rebuilt_from_the_results_alone(run, tmp_path, capsys):
    out, _, _, _ = run
    report = (out / "report.md").read_text(encoding="utf-8")
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(f"{t}-{kind}.png" for t in TASKS for kind in ("accuracy", "accuracy-vs-et", "speed"))
    for task in TASKS:
        assert f"## {task}" in report and "| smollm2-135m | 3 | " in report
    # Only the results file, with every stored grade wrong: the report grades the texts again.
    tampered = [r | {"prediction": "bogus", "correct": not r["correct"]} for r in read_records(out / "results.jsonl")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tampered), encoding="utf-8")
    assert main(["eval", "report", "--out", str(tmp_path)]) == 0
    assert all((tmp_path / name).read_bytes().startswith(PNG) for name in pngs)
    rebuilt = (tmp_path / "report.md").read_text(encoding="utf-8")
    table = lambda text: [line for line in text.splitlines() if line.startswith("|")]  # noqa: E731
    assert table(rebuilt) == table(report)
    assert "## arc-challenge" in capsys.readouterr().out


def test_rerunning_a_finished_eval_generates_nothing(run, capsys):
    out, args, _, _ = run
    before = (out / "results.jsonl").read_bytes()
    assert main(args) == 0
    assert "resuming: 18 of 18 results already in" in capsys.readouterr().err
    assert (out / "results.jsonl").read_bytes() == before


def test_users_multiple_choice_file(tmp_path, capsys):
    data = tmp_path / "quiz.jsonl"
    rows = [{"question": "Which is a primary colour?", "choices": ["green", "red", "pink"], "answer": 1},
            {"id": "sum", "question": "What is 2 + 3?", "answer": "5"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["eval", "--data", str(data), "--models", "smollm2-135m", "--max-tokens", "8", "--out", str(out), *THREADS]) == 0
    records = read_records(out / "results.jsonl")
    assert [(r["task"], r["item_id"], r["gold"]) for r in records] == [("quiz", "1", "B"), ("quiz", "sum", "5")]
    assert "| smollm2-135m | 2 | " in capsys.readouterr().out


def _write(path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _eval_json(data, out, capsys) -> tuple[dict, str]:
    """Run eval on a data file; the JSON summary and stderr."""
    assert main(["eval", "--data", str(data), "--models", "smollm2-135m", "--max-tokens", "4", "--out", str(out),
                 *THREADS, "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_an_edited_data_file_reruns_only_its_changed_items_and_reports_them_as_they_are(tmp_path, capsys):
    data, out = tmp_path / "mine.jsonl", tmp_path / "out"
    first = [{"question": "What is 2+3?", "answer": 5}, {"question": "What is 10-4?", "answer": "6"},
             {"question": "What is 3*3?", "answer": 9}]
    _write(data, first)
    _eval_json(data, out, capsys)

    _write(data, [first[0], {"question": "What is 9+9?", "answer": 18}, first[2]])
    summary, err = _eval_json(data, out, capsys)
    assert "resuming: 2 of 3 results already in" in err
    records = read_records(out / "results.jsonl")
    assert [(r["item_id"], r["gold"]) for r in records] == [("1", "5"), ("2", "6"), ("3", "9"), ("2", "18")]
    assert "leaves out 1 of the results" in err
    assert [m["n"] for m in summary["methods"]] == [3]
    assert "| smollm2-135m | 3 | " in (out / "report.md").read_text(encoding="utf-8")
    assert main(["eval", "report", "--out", str(out), "--json"]) == 0  # the version run last counts
    assert [m["n"] for m in json.loads(capsys.readouterr().out)["methods"]] == [3]

    _write(data, [first[0], {"question": "What is 9+9?", "answer": 18}])  # the third item removed
    summary, err = _eval_json(data, out, capsys)
    assert "resuming: 2 of 2" in err and "leaves out 2 of the results" in err
    assert [m["n"] for m in summary["methods"]] == [2]
    assert "| smollm2-135m | 2 | " in (out / "report.md").read_text(encoding="utf-8")

    _write(data, first)  # back as it was: every result is still there
    summary, err = _eval_json(data, out, capsys)
    assert "resuming: 3 of 3" in err and [m["n"] for m in summary["methods"]] == [3]
    assert len(read_records(out / "results.jsonl")) == 4


def test_two_data_files_of_one_name_share_only_identical_items(tmp_path, capsys):
    out = tmp_path / "out"
    same = {"question": "What is 2+3?", "answer": 5}
    _write(tmp_path / "a" / "data.jsonl", [same, {"question": "What is 10-4?", "answer": 6}])
    _write(tmp_path / "b" / "data.jsonl", [same, {"question": "What is 7+7?", "answer": 14}])
    _eval_json(tmp_path / "a" / "data.jsonl", out, capsys)
    summary, err = _eval_json(tmp_path / "b" / "data.jsonl", out, capsys)
    assert "resuming: 1 of 2" in err
    assert [r["gold"] for r in read_records(out / "results.jsonl")] == ["5", "6", "14"]
    assert [m["n"] for m in summary["methods"]] == [2]


def test_a_data_file_that_is_not_utf8_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_bytes(b'\xff\xfe{"q"}\n')
    assert main(["eval", "--data", str(data), "--models", "smollm2-135m"]) == 2
    err = capsys.readouterr().err
    assert err == f"safe-local: error: {data}:1: not UTF-8 text; save the file as UTF-8\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--task", "gsm9k"], "unknown task 'gsm9k'"),
        (["eval", "--task", "gsm8k:0"], "the limit after ':' must be a positive whole number"),
        (["eval", "--task", "gsm8k", "--limit", "0"], "--limit must be at least 1"),
        (["eval"], "say what to evaluate"),
        (["eval", "--task", "math500", "--offset", "500"], "--offset 500 skips every item of math500: it has 500"),
        (["eval", "--task", "gsm8k", "--data", "x.jsonl"], "not allowed with argument"),
        (["eval", "--task", "gsm8k", "--methods", "vote"], "unknown method 'vote'"),
        (["eval", "--task", "gsm8k", "--models", "smollm2-135m", "--methods", "unite"], "needs at least 2 models"),
        (["eval", "--task", "gsm8k", "--weights", "1,2"], "bad weights"),
        # Options the action would ignore (a report of gsm8k alone, say) are refused.
        (["eval", "report", "--task", "gsm8k", "--limit", "5", "--out", "/nonexistent/eval"],
         "eval report does not take --task, --limit; it takes only --out and --json"),
        (["eval", "fetch", "--out", "x"], "eval fetch does not take --out; it takes no options"),
        # The hint is a command that runs: it says what to evaluate.
        (["eval", "report", "--out", "/nonexistent/eval"], "no results in /nonexistent/eval/results.jsonl: "
         "run an evaluation there first, e.g. safe-local eval --task gsm8k:10 --out /nonexistent/eval"),
    ],
)
def test_bad_input_is_a_one_line_error(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("safe-local: error: ") and message in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "gsm8k:"], "bad task 'gsm8k:': the limit after ':' must be a positive whole number"),
        (["--task", " , "], "say what to evaluate"),
        (["--task", "gsm8k:2,gsm8k:1"], "task 'gsm8k' is given twice in --task; give each task once"),
        (["--task", "gsm8k:²"], "bad task 'gsm8k:²'"),  # a digit to isdigit(), not to int()
        (["--task", "gsm8k:1", "--methods", "single:²"], "unknown method 'single:²'"),
        (["--task", "gsm8k:1,math500:2", "--shard", "3/3"], "--shard 3/3 gets no items: no task has more than 2; "
         "use at most 2 shards"),
        (["--task", "gsm8k,math500", "--offset", "600"], "--offset 600 skips every item of math500: it has 500"),
        (["--task", "gsm8k", "--offset", "-1"], "--offset must be at least 0, got -1"),
        (["--task", "gsm8k", "--verifier-confidence", "1.5"], "verifier confidence must be in [0, 1] (0: off), got 1.5"),
    ],
)
def test_bad_input_fails_before_any_model_loads_or_file_is_written(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Ensemble, "load", lambda *_, **__: pytest.fail("the models were loaded"))
    out = tmp_path / "out"
    assert main(["eval", *args, "--models", "smollm2-135m", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("safe-local: error: ") and message in err
    assert not out.exists()


def test_a_data_file_named_like_a_built_in_task_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Ensemble, "load", lambda *_, **__: pytest.fail("the models were loaded"))
    data = tmp_path / "gsm8k.jsonl"
    _write(data, [{"question": "What is 2+3?", "answer": 5}])
    assert main(["eval", "--data", str(data), "--models", "smollm2-135m", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"safe-local: error: --data {data}: 'gsm8k' is the name of a built-in task; "
                                       "rename the file\n")


@pytest.mark.parametrize("action", [[], ["report"]])
def test_out_naming_a_file_or_another_tools_results_is_a_one_line_error(action, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x\n", encoding="utf-8")
    run = ["--task", "gsm8k:1", "--models", "smollm2-135m"] if not action else []
    assert main(["eval", *action, *run, "--out", str(afile)]) == 2
    assert capsys.readouterr().err == (f"safe-local: error: --out {afile} is a file: give a directory for "
                                       "results.jsonl and the report\n")
    _write(tmp_path / "other" / "results.jsonl", [{"name": "gsm8k", "acc": 0.5}])
    assert main(["eval", *action, *run, "--out", str(tmp_path / "other")]) == 2
    assert capsys.readouterr().err == (f"safe-local: error: {tmp_path}/other/results.jsonl:1 is not a safe-local "
                                       "eval result; give --out a directory of its own, or remove that line\n")


def test_fetch_extracts_the_three_tasks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path))
    assert main(["eval", "fetch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["gsm8k", "1319"], ["math500", "500"], ["arc-challenge", "1172"]]
    assert sorted(p.name for p in (tmp_path / "cache" / "eval").iterdir()) == ["arc-challenge.jsonl", "gsm8k.jsonl", "math500.jsonl"]
