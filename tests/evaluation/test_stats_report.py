"""Per-method figures (Wilson interval, E/T, speed vs the drafter) and the Markdown/PNG report."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local.evaluation.code_version import code_version
from safe_local.evaluation.report import write_report
from safe_local.evaluation.stats import sign_test, summarize, wilson

PNG = b"\x89PNG\r\n\x1a\n"


def _record(task, method, kind, correct, tokens, ensembled, seconds, settings="aaaaaaaaaaaa", item="1",
            code=None):
    models = ["qwen", "smol"] if kind != "single" else [method]
    return {"task": task, "item_id": item, "method": method, "settings_hash": settings, "kind": kind,
            "models": models, "drafter": models[0], "correct": correct, "tokens": tokens, "ensembled": ensembled,
            "seconds": seconds, "settings": {"config": {"max_tokens": 64}, "code": code_version() if code is None else code}}


RECORDS = [
    _record("gsm8k", "qwen", "single", True, 100, 0, 2.0, item="1"),
    _record("gsm8k", "qwen", "single", False, 100, 0, 2.0, item="2"),
    _record("gsm8k", "smol", "single", False, 50, 0, 0.5, item="1"),
    _record("gsm8k", "safe-unite", "safe", True, 100, 10, 4.0, item="1"),
    _record("gsm8k", "safe-unite", "safe", True, 60, 2, 2.0, item="2"),
    _record("gsm8k", "safe-unite", "safe", False, 40, 4, 1.0, item="1", settings="bbbbbbbbbbbb"),
    _record("math500", "unite", "unite", False, 10, 10, 1.0),
]


def test_wilson_interval_matches_known_values():
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson(20, 20)[1] == 1.0 and wilson(0, 0) == (0.0, 0.0)


def test_sign_test_matches_hand_computed_values():
    # 8 against 2: P(X <= 2) for Bin(10, 1/2) is (1 + 10 + 45) / 1024; doubled, 112 / 1024.
    assert sign_test(8, 2) == pytest.approx(112 / 1024)
    assert sign_test(2, 8) == sign_test(8, 2)
    assert sign_test(0, 6) == pytest.approx(2 / 64)  # docs/results.md: ARC 0 gained, 6 lost, p = 0.03
    assert sign_test(20, 17) == pytest.approx(0.7428, abs=1e-4)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        sign_test(-1, 3)


def _sign_test_by_enumeration(gained: int, lost: int) -> Fraction:
    """Every equally likely way the discordant items could have split; the share at least as uneven."""
    n = gained + lost
    observed = abs(gained - lost)
    splits = list(itertools.product((0, 1), repeat=n))
    return Fraction(sum(abs(2 * sum(s) - n) >= observed for s in splits), len(splits))


@given(st.integers(0, 9), st.integers(0, 9))
def test_sign_test_equals_enumerating_every_split(gained, lost):
    assert sign_test(gained, lost) == pytest.approx(float(_sign_test_by_enumeration(gained, lost)))


def test_summaries_pool_items_and_compare_with_the_drafter():
    rows = {(r.task, r.method): r for r in summarize(RECORDS)}
    qwen, safe = rows["gsm8k", "qwen"], rows["gsm8k", "safe-unite"]
    assert (qwen.n, qwen.correct, qwen.accuracy, qwen.tokens_per_s) == (2, 1, 0.5, 50.0)
    assert safe.ensemble_rate == pytest.approx(12 / 160) and safe.mean_tokens == 80
    assert safe.speed_vs_drafter == pytest.approx((25 / 50 + 30 / 50) / 2)  # paired by item
    assert rows["gsm8k", "smol"].speed_vs_drafter == pytest.approx(2.0)
    # Another setting of the same method is its own row, labelled with its hash.
    other = rows["gsm8k", "safe-unite [bbbbbb]"]
    assert other.n == 1 and other.ensemble_rate == pytest.approx(0.1)
    assert rows["math500", "unite"].speed_vs_drafter is None  # its drafter never ran alone


def test_speed_vs_drafter_pairs_items_and_ignores_one_whose_clock_ran_on():
    # Item 3's drafter run was paused for 100 s: pooled tokens/s would put the ensemble at
    # 17× the drafter; item by item it runs at half the drafter's speed on every item.
    records = [_record("gsm8k", "qwen", "single", True, 100, 0, s, item=i) for i, s in (("1", 1.0), ("2", 1.0), ("3", 101.0))]
    records += [_record("gsm8k", "gac", "gac", True, 100, 5, 2.0, item=i) for i in ("1", "2", "3", "4")]
    gac = next(r for r in summarize(records) if r.method == "gac")
    assert gac.speed_vs_drafter == pytest.approx(0.5)


def test_answers_of_other_code_are_rows_of_their_own_named_by_that_code():
    # The same settings run by older code (which stored none) and by another engine: three rows,
    # each compared with the drafter alone as run by its own code.
    # Each code's drafter runs at its own speed, so pairing with another code's would show.
    older = {"engine": "0123456789ab", "llama_cpp_python": "0.3.9"}
    records = [_record("gsm8k", "qwen", "single", True, 100, 0, 1.0, settings="c", code={}),
               _record("gsm8k", "gac", "gac", True, 100, 5, 4.0, settings="c", code={}),
               _record("gsm8k", "gac", "gac", True, 100, 5, 8.0, settings="dddddddddddd", code={}),
               _record("gsm8k", "qwen", "single", True, 100, 0, 2.0, settings="b", code=older),
               _record("gsm8k", "gac", "gac", False, 100, 5, 4.0, settings="b", code=older),
               _record("gsm8k", "qwen", "single", True, 100, 0, 0.5),
               _record("gsm8k", "gac", "gac", True, 100, 5, 1.25),
               _record("gsm8k", "gac", "gac", True, 100, 5, 2.5, settings="eeeeeeeeeeee")]
    summaries = summarize(records)
    rows = {r.method: r for r in summaries}
    assert len(rows) == len(summaries) == 8  # every row its own name
    old = "engine 012345, llama-cpp-python 0.3.9"
    assert set(rows) == {"qwen [code not recorded]", "gac [code not recorded]", "gac [code not recorded, dddddd]",
                         f"qwen [{old}]", f"gac [{old}]", "qwen", "gac", "gac [eeeeee]"}
    assert [rows[label].speed_vs_drafter for label in ("gac [code not recorded]", "gac [code not recorded, dddddd]",
                                                         f"gac [{old}]", "gac", "gac [eeeeee]")] == [
        0.25, 0.125, 0.5, 0.4, 0.2]
    assert rows["gac"].correct == 1 and rows[f"gac [{old}]"].correct == 0


def test_report_has_a_table_per_task_and_the_plots(tmp_path):
    path = write_report(RECORDS, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "## gsm8k" in text and "## math500" in text
    assert "| qwen | 2 | 50.0% (9.5%–90.5%) | 0.0% | 100 | 50.0 | 1.00× |" in text
    assert "| safe-unite | 2 | 100.0% " in text and "| 7.5% | 80 | 26.7 | 0.55× |" in text
    assert "Models: qwen, smol (drafter first) · max tokens 64 · greedy" in text
    for name in ("gsm8k-accuracy.png", "gsm8k-accuracy-vs-et.png", "gsm8k-speed.png",
                 "math500-accuracy.png", "math500-accuracy-vs-et.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG) and f"]({name})" in text
    assert not (tmp_path / "math500-speed.png").exists()
