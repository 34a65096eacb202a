"""scripts/verifier_confidence.py's table: which answers count for each beta, and the rule's choice.

Pure logic over a results file written here by hand (the property the script relies on, that a
reply beta 0 never changed is the same at every beta, is tested on the real models in
test_runner.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from safe_local.cli import build_parser
from safe_local.commands.eval import generation_base
from safe_local.evaluation.methods import parse_methods
from safe_local.store import select_ensemble

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verifier_confidence.py"
spec = importlib.util.spec_from_file_location("verifier_confidence", SCRIPT)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

TASK = "gsm8k:4"


def _write(out: Path, answers: dict[tuple[str, float | None], tuple[bool, int]], task: str = TASK) -> None:
    """Records of gsm8k items by id (e.g. "0".."3"): (item, beta or None for Qwen alone) -> (correct, rejected)."""
    args = argparse.Namespace(task=task, offset=0, out=out, betas=(0.5, 0.7, 0.9), threads=1)
    _, by_beta, alone = script.methods(args)
    gold = {item.id: item.answer for _, items in script.planned_tasks(args) for item in items}
    lines = []
    for (item, beta), (correct, rejected) in answers.items():
        method = alone if beta is None else by_beta[beta]
        answer = gold[item] if correct else "-1"
        lines.append({"task": "gsm8k", "item_id": item, "method": method.label, "settings_hash": method.settings_hash,
                      "settings": json.loads(json.dumps(method.settings, default=list)), "gold": gold[item],
                      "n_choices": 0, "stop_reason": "eos", "text": f"The answer is {answer}.", "rejected": rejected})
    out.mkdir()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")


def test_betas_count_beta_zeros_answer_where_it_rejected_nothing_and_ties_go_to_the_smaller_beta(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {
        ("0", None): (True, 0), ("0", 0.0): (True, 0),      # rejected nothing: every beta is beta 0
        ("1", None): (True, 0), ("1", 0.0): (False, 3), ("1", 0.5): (True, 0), ("1", 0.9): (True, 0),
        ("2", None): (False, 0), ("2", 0.0): (True, 2), ("2", 0.5): (False, 0), ("2", 0.9): (True, 1),
        ("3", None): (False, 0), ("3", 0.0): (False, 0),
    })
    assert script.main(["table", "--task", TASK, "--out", str(out), "--betas", "0.5,0.9"]) == 0
    text = capsys.readouterr().out
    assert "| 0 | 4 | 0 | 0 | 2/4 (15%-85%) | 1 | 1 | +0 | 1.00 |" in text
    assert "| 0.5 | 4 | 2 | 0 | 2/4 (15%-85%) | 0 | 0 | +0 | 1.00 |" in text
    assert "| 0.9 | 4 | 2 | 0 | 3/4 (30%-95%) | 0 | 1 | +1 | 1.00 |" in text
    assert "Qwen alone: 2/4" in text and "beta* = 0.9" in text


def test_a_beta_not_run_on_an_item_beta_zero_changed_leaves_beta_star_unchosen(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {("0", None): (True, 0), ("0", 0.0): (False, 1), ("0", 0.5): (True, 0)})
    assert script.main(["table", "--task", "gsm8k:1", "--out", str(out), "--betas", "0.5,0.9"]) == 0
    text = capsys.readouterr().out
    assert "| 0.9 | 0 | 0 | 1 |" in text and "beta* not chosen" in text


def test_an_item_without_qwen_or_beta_zero_leaves_beta_star_unchosen(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {("0", None): (True, 0), ("0", 0.0): (True, 0), ("1", 0.0): (True, 0)})
    assert script.main(["table", "--task", "gsm8k:2", "--out", str(out), "--betas", "0.5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("1 of 2 items") and "beta* not chosen" in text


def test_the_scripts_methods_are_the_ones_eval_stores(tmp_path):
    """Its keys must be those `safe-local eval --preset tiny --stop-loops --chunk auto` writes for
    Qwen alone and beta 0 (the runs it builds on), and eval's flag for the other betas."""
    def eval_methods(*flags: str) -> dict:
        args = build_parser().parse_args(["eval", "--preset", "tiny", "--stop-loops", "--chunk", "auto",
                                          "--task", TASK, *flags])
        specs, preset = select_ensemble(None, "tiny")
        return {m.label: m for m in parse_methods("qwen2.5-coder-0.5b,safe-gac", specs, generation_base(args, preset))}

    args = argparse.Namespace(task=TASK, offset=0, out=tmp_path, betas=(0.7,), threads=1)
    _, by_beta, alone = script.methods(args)
    plain = eval_methods()
    assert alone.settings_hash == plain["qwen2.5-coder-0.5b"].settings_hash
    assert by_beta[0.0].settings_hash == plain["safe-gac"].settings_hash
    assert by_beta[0.7].settings_hash == eval_methods("--verifier-confidence", "0.7")["safe-gac"].settings_hash


def test_fresh_reports_beta_star_and_beta_zero_on_items_at_their_own_offset_and_gives_rule_threes_verdict(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {
        ("2", None): (True, 0), ("2", 0.0): (False, 1), ("2", 0.7): (True, 0),   # beta 0.7 wins back a loss
        ("3", None): (False, 0), ("3", 0.0): (True, 0),                        # inferred: 0.7 is beta 0 here
    }, task="gsm8k:2@2")
    assert script.main(["fresh", "--task", "gsm8k:2@2", "--out", str(out), "--betas", "0.7"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 of 2 items")
    assert "| all | 1/2 (9%-91%) | beta 0 | 1 | 1 | 1.00 | 1/2 (9%-91%) |" in text
    assert "| all | 1/2 (9%-91%) | beta 0.7 | 0 | 1 | 1.00 | 2/2 (34%-100%) |" in text
    assert "beta 0.7 against beta 0: lost 0, gained 1" in text and "(1 of 2 answers inferred" in text
    assert "`tiny` adopts beta 0.7" in text


def test_fresh_keeps_beta_zero_when_beta_star_loses_as_many_pairs_to_qwen(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {
        ("0", None): (True, 0), ("0", 0.0): (False, 1), ("0", 0.7): (False, 2),
        ("1", None): (False, 0), ("1", 0.0): (True, 1), ("1", 0.7): (False, 1),
    }, task="gsm8k:2")
    assert script.main(["fresh", "--task", "gsm8k:2", "--out", str(out), "--betas", "0.7"]) == 0
    text = capsys.readouterr().out
    assert "beta* loses 1 pairs to Qwen alone, beta 0 loses 1" in text
    assert "`tiny` stays at beta 0, not beta 0.7" in text


def test_fresh_gives_no_verdict_while_beta_star_is_missing_on_an_item_beta_zero_changed(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {("0", None): (True, 0), ("0", 0.0): (False, 1)}, task="gsm8k:1")
    assert script.main(["fresh", "--task", "gsm8k:1", "--out", str(out), "--betas", "0.7"]) == 0
    text = capsys.readouterr().out
    assert "no verdict" in text and "adopts" not in text and "stays" not in text


def test_an_offset_that_is_not_a_number_is_one_clear_error(tmp_path, capsys):
    assert script.main(["table", "--task", "gsm8k:2@x", "--out", str(tmp_path)]) == 2
    assert "the offset after @ must be a whole number" in capsys.readouterr().err


def test_fresh_with_beta_star_zero_reports_beta_zero_against_qwen_and_keeps_tiny(tmp_path, capsys):
    out = tmp_path / "out"
    _write(out, {("0", None): (True, 0), ("0", 0.0): (False, 1), ("1", None): (False, 0), ("1", 0.0): (False, 0)},
           task="gsm8k:2")
    assert script.main(["fresh", "--task", "gsm8k:2", "--out", str(out), "--betas", "0"]) == 0
    text = capsys.readouterr().out
    assert "| all | 1/2 (9%-91%) | beta 0 | 1 | 0 | 1.00 | 0/2 (0%-66%) |" in text
    assert text.count("| beta ") == 2 and "`tiny` stays at beta 0" in text
