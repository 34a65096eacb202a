"""Method names, and the settings hash that decides which stored results a run reuses."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import patch

import pytest

from safe_local.commands.eval import EVAL_CHUNK
from safe_local.engine import GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.evaluation.code_version import code_version
from safe_local.evaluation.methods import parse_methods
from tests.evaluation.settings_hashes import without_code

TRIO = ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]
BASE = GenerationConfig(max_tokens=2048, temperature=0.0, chunk=EVAL_CHUNK)  # as `safe-local eval` builds it


def test_default_is_each_model_alone_then_the_four_ensembles():
    methods = parse_methods(None, TRIO, BASE)
    assert [m.label for m in methods] == [*TRIO, "unite", "gac", "safe-unite", "safe-gac"]
    assert [(m.config.method, m.config.single_model) for m in methods[:3]] == [("single", 0), ("single", 1), ("single", 2)]
    assert [(m.config.method, m.config.base) for m in methods[3:]] == [
        ("unite", "unite"), ("gac", "unite"), ("safe", "unite"), ("safe", "gac")]
    assert [m.label for m in parse_methods(None, TRIO[:1], BASE)] == [TRIO[0]]  # one model: no ensembles


def test_model_names_and_indices_name_the_same_method_once():
    methods = parse_methods("smollm2-135m, single:2 ,safe-gac", TRIO, BASE)
    assert [m.label for m in methods] == ["smollm2-135m", "safe-gac"]
    with pytest.raises(SafeLocalError, match="unknown method 'single:3'"):
        parse_methods("single:3", TRIO, BASE)


def test_settings_hash_changes_with_what_changes_an_answer():
    def hashes(base: GenerationConfig, models=TRIO) -> dict[str, str]:
        return {m.label: m.settings_hash for m in parse_methods(None, models, base)}

    plain = hashes(BASE)
    weighted = hashes(replace(BASE, weights=(2, 1, 1), sharpening="geometric"))
    shorter = hashes(replace(BASE, max_tokens=256))
    reordered = hashes(BASE, [TRIO[0], TRIO[2], TRIO[1]])
    for model in TRIO:  # a model alone is reused across ensemble variants and model orders
        assert plain[model] == weighted[model] == reordered[model] != shorter[model]
    for method in ("unite", "gac", "safe-unite", "safe-gac"):
        assert len({plain[method], weighted[method], shorter[method], reordered[method]}) == 4
    assert len(set(plain.values())) == 7


def test_a_context_other_than_the_default_is_in_the_hash():
    # An answer can stop at a full context, so one run with a short --ctx must not be reused by
    # another; the default stays out so results stored before the context was hashed stay valid.
    default = {m.label: m.settings_hash for m in parse_methods(None, TRIO, BASE)}
    short = {m.label: m.settings_hash for m in parse_methods(None, TRIO, BASE, n_ctx=1024)}
    assert default == {m.label: m.settings_hash for m in parse_methods(None, TRIO, BASE, n_ctx=4096)}
    assert all(default[label] != short[label] for label in default)
    main_run = {m.label: without_code(m.settings) for m in parse_methods(None, TRIO, replace(BASE, stop_loops=True))}
    assert main_run[TRIO[0]] == "2db3e9ef9bb7"  # as stored for it in docs/eval/results.jsonl, but for the code
    # The ensembles' stored results predate the drafter_gate option (and the fixes that came with
    # it, which change their answers): their settings differ besides the code.
    assert main_run["safe-unite"] != "d41c9246d4fe"


def test_the_code_that_answers_is_in_the_hash():
    method = parse_methods("safe-gac", TRIO, BASE)[0]
    assert method.settings["code"] == code_version()
    other = {"engine": "0123456789ab", "llama_cpp_python": code_version()["llama_cpp_python"]}
    this = method.settings_hash
    with patch("safe_local.evaluation.methods.code_version", return_value=other):
        assert parse_methods("safe-gac", TRIO, BASE)[0].settings_hash != this
    assert parse_methods("safe-gac", TRIO, BASE)[0].settings_hash == this



def test_a_model_loaded_in_another_quantization_says_so_in_the_hash():
    # SmolLM2 is loaded as Q8_0 (converted from its package's Q4_1) since 2026-12-03: results
    # stored before that are not answers of the model that loads now.
    main_run = {m.label: m for m in parse_methods(None, TRIO, replace(BASE, stop_loops=True))}
    assert main_run["smollm2-135m"].settings["loaded_as"] == {"smollm2-135m": "Q8_0"}
    assert main_run["safe-gac"].settings["loaded_as"] == {"smollm2-135m": "Q8_0"}
    assert "loaded_as" not in main_run["gemma3-270m"].settings
    assert without_code(main_run["gemma3-270m"].settings) == "201f4f289802"  # as stored in docs/eval/results.jsonl
    assert without_code(main_run["smollm2-135m"].settings) != "5e894ce5f711"  # stored there as Q4_1
