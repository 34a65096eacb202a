"""Answer extraction and normalization: real model outputs of each format, then hand cases.

fixtures/real_outputs.jsonl holds replies the offline models actually gave to the paper's
prompts on benchmark items (generated once on 2026-11-27: greedy, 256 to 700 tokens at most,
each model alone or SAFE/UniTE with the trio), each with the answer a careful reader takes from
it and the format it came in. Gemma, a base model, echoes the prompt with its empty \\boxed{}
and then repeats a number. Replies cut off at the token limit are graded as unfinished: they
have no answer unless they state one. One reply lists "The answer is (A)" ... "(D)" and "(X)": the last
letter stated counts, as it would for a reader who reads the reply to its end, except "(X)", the
prompt's placeholder; another goes on to "(E)" of four options, a wrong answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safe_local.evaluation.answers import (
    extract_choice,
    extract_math_answer,
    grade,
    last_boxed,
    math_equal,
    normalize_math,
)
from safe_local.evaluation.runner import finished

REAL = [json.loads(line) for line in (Path(__file__).parent / "fixtures" / "real_outputs.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_real_outputs_cover_each_format():
    formats = {r["format"] for r in REAL}
    assert {"boxed number", "boxed latex", "answer is letter", "boxed letter", "cut off", "echoed prompt"} <= formats
    assert {r["model"] for r in REAL} >= {"qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"}


@pytest.mark.parametrize("case", REAL, ids=[f"{r['task']}-{r['item_id']}-{r['model']}-{r['method']}" for r in REAL])
def test_real_outputs(case):
    graded = grade(case["text"], case["gold"], case["n_choices"], finished(case["stop_reason"]))
    assert graded.prediction == case["expected_prediction"]
    assert graded.correct is case["expected_correct"]


@pytest.mark.parametrize(
    "text, boxed",
    [
        (r"so $\boxed{\frac{\sqrt{3}}{2}}$.", r"\frac{\sqrt{3}}{2}"),
        (r"\boxed{1} and later \boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"\boxed {7}", "7"),
        (r"\fbox{42}", "42"),
        (r"first \boxed{2}, then cut off: \boxed{\frac{1}{", "2"),  # an unclosed box falls back
        (r"put your final answer within \boxed{}. \boxed{5} ... within \boxed{}.", "5"),  # echoed instruction
        ("no box at all", None),
    ],
)
def test_last_boxed_handles_nested_braces(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize(
    "text, answer",
    [
        (r"The total is \boxed{18}.", "18"),
        ("So the answer is 18 dollars.", "18"),
        ("The final answer is: $2,125.", "$2,125"),
        (r"The answer is $\frac{1}{2}$.", r"$\frac{1}{2}$"),
        ("The final answer is $3.5. Let's check it in Python.", "$3.5"),  # the sentence ends the answer
        ("so the height is 5π cm", "5π"),  # 5π is no 5
        ("The final answer is:\n\\[ 5 \\]\n\nLet's confirm", "5"),
        ("The final answer is:\n\n\\[\n\\text{Left} = 1.4 + 1.4 = 2.8 \\text{ liters}\n\\]", r"2.8 \text{ liters}"),
        ("the answer is\n$$\nx = \\frac{1}{2}\n$$", r"\frac{1}{2}"),
        (r"The answer is 12 \pi.", r"12 \pi"),
        ("She has 3 apples, then 5, so 8 in all", "8"),
        ("#### 1,600", "1,600"),
        ("no numbers here", None),
    ],
)
def test_math_answer_extraction(text, answer):
    assert extract_math_answer(text) == answer


@pytest.mark.parametrize(
    "prediction, gold",
    [
        (r"\dfrac{14}{3}", r"\frac{14}{3}"),
        (r"\frac{14}3", r"\frac{14}{3}"),
        ("14/3", r"\frac{14}{3}"),
        ("0.5", r"\frac12"),
        ("90", r"90^\circ"),
        (r"90^{\circ}", "90°"),
        (r"(3,\frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)"),
        (r"\text{Evelyn}", r"\text{Evelyn}"),
        (r"10\text{ inches}", "10"),
        ("x = 5", "5"),
        ("$2,125", "2,125"),
        (r"1{,}000", "1000"),
        ("18.00", "18"),
        (r"50\%", "50"),
        (r"\$18", "18"),
        (r"\sqrt2", r"\sqrt{2}"),
        ("5π", r"5\pi"),
        (r"p - q", "p-q"),
    ],
)
def test_equal_answers_written_differently(prediction, gold):
    assert math_equal(prediction, gold), (normalize_math(prediction), normalize_math(gold))


@pytest.mark.parametrize(
    "prediction, gold",
    [("17", "18"), (r"\frac{14}{3}", r"\frac{3}{14}"), ("(1,2)", "12"), ("-3", "3"), ("x^2=5", "5"), (r"\pi", "3.14"), ("5π", "5")],
)
def test_different_answers_stay_different(prediction, gold):
    assert not math_equal(prediction, gold)


@pytest.mark.parametrize(
    "text, letter",
    [
        ("Reasoning... The answer is (C).", "C"),
        ("so the answer is B", "B"),
        ("**The answer is: (A)**", "A"),
        (r"The answer is \boxed{D}.", "D"),
        (r"Final: $\boxed{\text{(B)}}$", "B"),
        ("Options (A) and (B) fail, so (C)", "C"),
        ('I will print "The answer is (X)" now', None),  # the prompt's placeholder, no answer
        ("The answer is (C). ... The answer is (E).", "E"),  # the last stated letter, though no option
        ("The answer is (B). So the answer is I think clear", "B"),  # "I" is a word here
        ("The answer is Apple.", None),
        ("no letter", None),
    ],
)
def test_choice_extraction(text, letter):
    assert extract_choice(text, 4) == letter


def test_grade_multiple_choice_and_math():
    assert grade("The answer is (B).", "B", n_choices=3).correct
    assert not grade("The answer is (C).", "B", n_choices=3).correct
    assert grade(r"\boxed{\dfrac{14}{3}}", r"\frac{14}{3}") == grade(r"\boxed{\dfrac{14}{3}}", r"\frac{14}{3}", 0)
    assert grade("nothing", "18").prediction is None and not grade("nothing", "18").correct


def test_an_unfinished_reply_scores_only_an_answer_it_states():
    cut = "She has 16 - 3 - 4 = 9 eggs left and sells them for $2 each: 9 * 2 = 18"
    assert grade(cut, "18").correct  # finished: the last number is taken as the answer
    assert grade(cut, "18", finished=False).prediction is None
    stated = r"So the answer is \boxed{18}. So the answer is \boxed{18}. So the"
    assert grade(stated, "18", finished=False).correct
    listing = "Options: (A) red (B) blue (C) green. Looking at (B) again and (B) again and"
    assert grade(listing, "B", n_choices=3).correct
    assert grade(listing, "B", n_choices=3, finished=False).prediction is None
    assert grade("... The answer is (B). The answer is (B). The", "B", 3, finished=False).correct
    assert finished("eos") and finished("stop")
    assert not any(finished(r) for r in ("length", "loop", "context"))
