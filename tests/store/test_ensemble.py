"""Choosing an ensemble: model lists, presets, the default preset; resolution without network."""

from __future__ import annotations

import pytest

from safe_local.errors import SafeLocalError
from safe_local.store import resolve_ensemble, select_ensemble


def test_default_is_the_tiny_preset(offline_model_paths):
    paths, options = resolve_ensemble()
    assert [p.resolve() for p in paths] == [offline_model_paths[n].resolve() for n in ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")]
    assert options == {"method": "safe", "base": "gac", "weights": [4.0, 1.0, 1.0]}


def test_explicit_models_and_presets():
    assert select_ensemble(["smollm2-135m", " gemma3-270m "]) == (["smollm2-135m", "gemma3-270m"], {})
    specs, options = select_ensemble(preset="paper")
    assert specs == ["qwen2.5-7b", "internlm3-8b", "exaone3.5-7.8b"] and options["chunk"] == 5
    # A preset with explicit models keeps the models and brings its options.
    assert select_ensemble(["smollm2-135m"], "paper") == (["smollm2-135m"], options)
    with pytest.raises(SafeLocalError, match="unknown preset 'huge': use one of tiny, laptop, paper"):
        select_ensemble(preset="huge")


def test_a_preset_whose_models_are_not_downloaded_names_the_pull_command():
    with pytest.raises(SafeLocalError) as exc:
        resolve_ensemble(preset="laptop")
    assert str(exc.value) == "qwen2.5-1.5b is not downloaded yet: run: safe-local pull qwen2.5-1.5b"
