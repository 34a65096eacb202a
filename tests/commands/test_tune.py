"""`safe-local tune` end to end on the real models: the rungs run, resume, report and save a preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from safe_local.evaluation.results import read_records

ITEMS = [{"question": "What is 2 + 3?", "answer": "5"}, {"question": "What is 10 - 4?", "answer": "6"}]


def _tune(tmp_path, paths, *extra: str) -> subprocess.CompletedProcess:
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    models = f"{paths['qwen2.5-coder-0.5b']},{paths['smollm2-135m']}"
    env = os.environ | {"SAFE_LOCAL_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "safe_local", "tune", "--data", str(data), "--models", models,
                           "--weights", "1,4", "--bases", "unite", "--sharpening", "geometric", "--gates", "1",
                           "--betas", "0", "--first-items", "1", "--max-tokens", "24", "--threads", "2", "--out", str(tmp_path / "out"),
                           *extra], capture_output=True, text=True, timeout=900, env=env)


def test_tune_halves_resumes_reports_and_saves(tmp_path, offline_model_paths):
    p = _tune(tmp_path, offline_model_paths)
    assert p.returncode == 0, p.stderr
    records = read_records(tmp_path / "out" / "results.jsonl")
    # Rung 1: item 1 with both models alone and both configurations; rung 2: item 2 with the
    # models alone and the better configuration only.
    assert len(records) == 4 + 3
    ensembles = {r["method"] for r in records if r["kind"] == "safe"}
    assert len(ensembles) == 2
    on_item_2 = [r for r in records if r["item_id"] == "2" and r["kind"] == "safe"]
    assert len(on_item_2) == 1
    report = (tmp_path / "out" / "tune.md").read_text(encoding="utf-8")
    assert on_item_2[0]["method"] in report and "alone" in report and "gained" in report
    assert (tmp_path / "out" / "front.png").stat().st_size > 1000

    again = _tune(tmp_path, offline_model_paths, "--save", "tuned")
    assert again.returncode == 0, again.stderr
    assert len(read_records(tmp_path / "out" / "results.jsonl")) == 7  # resumed: nothing ran again
    config = (tmp_path / "home" / "config" / "config.toml").read_text(encoding="utf-8")
    assert "[presets.tuned]" in config and "geometric" in config
    listed = subprocess.run([sys.executable, "-m", "safe_local", "ls", "--presets", "--json"], capture_output=True,
                            text=True, timeout=120, env=os.environ | {"SAFE_LOCAL_HOME": str(tmp_path / "home")})
    assert listed.returncode == 0, listed.stderr
    assert "tuned" in listed.stdout  # the catalog reads the saved preset


def test_bad_tune_options_are_one_line_errors(tmp_path, offline_model_paths):
    p = _tune(tmp_path, offline_model_paths, "--first-items", "0")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--first-items" in p.stderr
    p = _tune(tmp_path, offline_model_paths, "--gates", "2")
    assert p.returncode == 2 and "--gates" in p.stderr
