"""The code a result was answered by: the engine's fingerprint, and what a rerun does with other code's answers.

The fingerprint tests edit a copy of the package, so they show it moves with the engine's code
and with nothing else; the last test runs SmolLM2 for real on one GSM8K item, twice, with the
first answer relabelled as another engine's in between.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from safe_local.cli import main
from safe_local.engine import GenerationConfig
from safe_local.evaluation import code_version as cv
from safe_local.evaluation.data import Item
from safe_local.evaluation.methods import parse_methods
from safe_local.evaluation.results import read_records
from safe_local.evaluation.runner import Run, answered_by_other_code
from tests.evaluation.settings_hashes import settings_hash

OLDER = {"engine": "0123456789ab", "llama_cpp_python": "0.3.9"}


def test_code_only_drops_comments_docstrings_and_layout_but_not_code():
    plain = "def f(x):\n    return x + 1\n"
    assert cv.code_only(plain) == cv.code_only(
        '"""Module."""\n# why\ndef f(x):  # adds one\n    """Doc."""\n\n    return (x +\n            1)\n')
    assert cv.code_only(plain) != cv.code_only("def f(x):\n    return x + 2\n")
    assert cv.code_only(plain) != cv.code_only("def f(x):\n    return 1 + x\n")  # a refactor counts too
    assert cv.code_only('def f():\n    """Only a docstring."""\n') == cv.code_only("def f():\n    pass\n")


def test_the_engine_is_what_engine_and_backend_import_and_nothing_above_it():
    modules = cv.engine_modules()
    for name in ("safe_local.engine", "safe_local.runs", "safe_local.runs.safe", "safe_local.core.consensus",
                 "safe_local.core.sharpening", "safe_local.backend.llama", "safe_local.backend.chat_template",
                 "safe_local.generation_config", "safe_local.loop_guard", "safe_local.grammar"):
        assert name in modules
    for prefix in ("safe_local.api", "safe_local.store", "safe_local.server", "safe_local.evaluation",
                   "safe_local.commands", "safe_local.cli", "tui"):
        assert not any(m == prefix or m.startswith(prefix + ".") for m in modules), prefix
    assert "safe_local" not in modules  # the package's __init__ only re-exports the API


def test_every_data_file_the_engine_reads_is_in_the_fingerprint():
    # The engine reads package data as resources.files(PACKAGE).joinpath(FILE): each such read in
    # its modules must be listed in ENGINE_DATA, or a change to that file would go unnoticed.
    reads = set()
    for name in cv.engine_modules():
        for node in ast.walk(ast.parse(cv._source(name))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
                inner = node.func.value
                assert isinstance(inner, ast.Call) and all(isinstance(a, ast.Constant) for a in inner.args + node.args)
                reads.add((inner.args[0].value, node.args[0].value))
    assert reads == set(cv.ENGINE_DATA) != set()


def test_the_fingerprint_moves_with_the_engines_data(monkeypatch, tmp_path):
    before = cv.engine_fingerprint()
    real = cv.resources.files("safe_local.catalog").joinpath("chat_templates.toml").read_text("utf-8")
    (tmp_path / "chat_templates.toml").write_text(real.replace("<start_of_turn>", "<start_of_turn> "), "utf-8")
    monkeypatch.setattr(cv.resources, "files", lambda package: tmp_path)
    assert cv.engine_fingerprint() != before


@pytest.fixture
def package_copy(tmp_path, monkeypatch) -> Path:
    """A copy of safe_local that the fingerprint reads instead of the real one."""
    copy = tmp_path / "safe_local"
    shutil.copytree(Path(cv.__file__).resolve().parents[1], copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cv, "_ROOT", copy)
    cv.engine_modules.cache_clear()
    yield copy
    cv.engine_modules.cache_clear()


def test_the_fingerprint_moves_with_the_engines_code_only(package_copy):
    before = cv.engine_fingerprint()
    assert before == cv.engine_fingerprint()

    def edit(relative: str, old: str, new: str) -> str:
        path = package_copy / relative
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        cv.engine_modules.cache_clear()
        return cv.engine_fingerprint()

    future = "from __future__ import annotations\n"
    assert edit("runs/safe.py", '"""', '"""Reworded. ') == before  # a docstring
    assert edit("core/consensus.py", future, future + "# a comment\n\n") == before
    assert edit("server/app.py", future, future + "X = 1\n") == before  # not the engine
    assert edit("evaluation/answers.py", future, future + "X = 1\n") == before  # graded again on every report
    changed = edit("core/consensus.py", future, future + "X = 1\n")
    assert changed != before
    # A new module the engine starts importing is covered without a list to keep.
    (package_copy / "core" / "new_step.py").write_text("Y = 2\n", encoding="utf-8")
    assert edit("runs/safe.py", "\nfrom __future__ import annotations\n",
                "\nfrom __future__ import annotations\nfrom safe_local.core import new_step\n") != changed
    assert "safe_local.core.new_step" in cv.engine_modules()
    before_new = cv.engine_fingerprint()
    (package_copy / "core" / "new_step.py").write_text("Y = 3\n", encoding="utf-8")
    assert cv.engine_fingerprint() != before_new


def test_describe_names_the_code_or_says_it_was_not_recorded():
    assert cv.describe(OLDER) == "engine 012345, llama-cpp-python 0.3.9"
    assert cv.describe(None) == cv.describe({}) == "code not recorded"


def test_answers_of_other_code_with_the_same_settings_are_counted_by_code():
    method = parse_methods("single:0", ["smollm2-135m"], GenerationConfig(max_tokens=16))[0]
    runs = [Run("gsm8k", Item(str(i), "q", "1"), method) for i in range(3)]

    def record(item: str, settings: dict) -> dict:
        return {"task": "gsm8k", "item_id": item, "method": method.label, "settings_hash": settings_hash(settings),
                "settings": json.loads(json.dumps(settings, default=list))}

    older = method.settings | {"code": OLDER}
    unrecorded = {k: v for k, v in method.settings.items() if k != "code"}
    longer = older | {"config": method.settings["config"] | {"max_tokens": 32}}
    records = [record("0", older), record("1", older), record("2", unrecorded), record("0", longer),
               record("2", method.settings), record("9", older)]
    assert answered_by_other_code(runs, records) == {"engine 012345, llama-cpp-python 0.3.9": 2,
                                                     "code not recorded": 1}


def _eval(out: Path, capsys) -> str:
    assert main(["eval", "--task", "gsm8k:1", "--models", "smollm2-135m", "--max-tokens", "16", "--threads", "1",
                 "--out", str(out)]) == 0
    return capsys.readouterr().err


def test_a_rerun_does_not_reuse_another_engines_answer_and_says_so(tmp_path, capsys):
    _eval(tmp_path, capsys)
    path = tmp_path / "results.jsonl"
    [record] = read_records(path)
    assert record["settings"]["code"] == cv.code_version()
    # The answer as an older engine would have stored it: its code, and the hash with it.
    settings = record["settings"] | {"code": OLDER}
    path.write_text(json.dumps(record | {"settings": settings, "settings_hash": settings_hash(settings)}) + "\n",
                    encoding="utf-8")

    err = _eval(tmp_path, capsys)
    assert (f"not reusing 1 answers in {path} made by other code (engine 012345, llama-cpp-python 0.3.9): they "
            "stay there, labelled in the report; their items run again") in err
    records = read_records(path)
    assert [r["settings"]["code"] for r in records] == [OLDER, cv.code_version()]
    assert records[1]["text"] == record["text"]  # this engine again, greedy: the same answer
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| smollm2-135m | 1 |" in report and "| smollm2-135m [engine 012345, llama-cpp-python 0.3.9] | 1 |" in report

    assert "not reusing" not in _eval(tmp_path, capsys)  # now answered by this code: reused, no note
