"""Loop detection: repeated tails are caught, real answers that ended by themselves are not."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from safe_local.loop_guard import LOOP_CHARS, LOOP_REPEATS, LoopGuard, is_looping

# Full-length replies of the offline models on GSM8K items 0-6, every method, recorded without
# loop stopping (docs/results.md): 18 ran to 2048 tokens, 17 of them in a loop; the rest ended by themselves.
RECORDED = Path(__file__).parents[1] / "docs" / "eval-full-length" / "results.jsonl"
RECORDS = [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines()]

_NO_DIGITS = st.text(st.characters(blacklist_categories=("Nd", "Cs")), min_size=1, max_size=300)


@given(prefix=st.text(max_size=500), unit=_NO_DIGITS)
def test_a_unit_repeated_past_both_thresholds_is_a_loop(prefix, unit):
    repeats = max(LOOP_REPEATS, -(-LOOP_CHARS // len(unit)))
    assert is_looping(prefix + unit * repeats)


@given(prefix=st.text(max_size=500), unit=_NO_DIGITS)
def test_a_short_repetition_is_not_a_loop(prefix, unit):
    # Below either threshold the stretch is too short, whatever came before it (a lone period
    # of the prefix could extend it, so the prefix is kept apart by a character not in the unit).
    repeats = min(LOOP_REPEATS, LOOP_CHARS // len(unit)) - 1
    text = prefix + "\x00" + unit * repeats
    assert not is_looping(text)


def test_a_counter_that_ticks_up_in_each_repeat_is_still_a_loop():
    lines = "".join(f"{i}. The robe takes 2 bolts of blue fiber and 1 bolt of white fiber.\n" for i in range(1, 40))
    assert is_looping(lines)
    assert not is_looping(lines[:LOOP_CHARS // 2])


def test_a_short_table_of_like_lines_is_not_a_loop():
    table = "".join(f"- Day {d}: {d * 3} eggs, ${d * 6}\n" for d in range(1, 8))
    assert not is_looping("Let us list each day.\n" + table + "So the total is 84.")


def test_the_guard_fires_within_a_check_interval_of_a_loop():
    text = "Let me think. " + "And then again. " * 200
    guard, fired_at = LoopGuard(), None
    for end in range(1, len(text) + 1):
        if guard.looping(text[:end]):
            fired_at = end
            break
    first = next(end for end in range(1, len(text) + 1) if is_looping(text[:end]))
    assert fired_at is not None and first <= fired_at < first + 64


def test_recorded_replies_that_ended_by_themselves_never_look_like_loops():
    finished = [r["text"] for r in RECORDS if r["stop_reason"] == "eos"]
    assert len(finished) >= 30
    for text in finished:
        assert not any(is_looping(text[:end]) for end in range(64, len(text) + 64, 64))


def test_recorded_replies_that_ran_to_the_limit_are_loops_but_one():
    cut = [r for r in RECORDS if r["stop_reason"] == "length"]
    not_looping = [r for r in cut if not is_looping(r["text"])]
    assert len(cut) == 18
    # Gemma (a base model) wrote new word problems one after another on item 0: no loop.
    assert [(r["method"], r["item_id"]) for r in not_looping] == [("gemma3-270m", "0")]
