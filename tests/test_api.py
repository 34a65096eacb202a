"""The Python API on the real models: an ensemble's own options, and calls that override them."""

from __future__ import annotations

import pytest

from safe_local import Ensemble, SafeLocalError
from safe_local.events import EnsembleEvent
from safe_local.store import load_catalog
from tests.real_models import NAMES


def test_an_ensemble_generates_with_its_options_unless_a_call_passes_its_own(loaded_models):
    ens = Ensemble([loaded_models[n] for n in NAMES], {"method": "unite", "weights": [2, 1, 1]})
    events = list(ens.stream("What is 2+2?", max_tokens=3))
    votes = [e for e in events if isinstance(e, EnsembleEvent)]
    assert votes and all(e.weights == pytest.approx([0.5, 0.25, 0.25]) for e in votes)
    assert events[-1].result.method == "unite"

    own = ens.generate("What is 2+2?", max_tokens=3, method="gac", weights=None)
    assert own.method == "gac" and ens.options == {"method": "unite", "weights": [2, 1, 1]}


def test_load_keeps_the_presets_options_and_a_call_can_override_them(offline_model_paths):
    with Ensemble.load(preset="tiny", n_ctx=512) as ens:
        assert ens.names == list(NAMES)
        assert ens.options == load_catalog().presets["tiny"].generation_options()
        assert ens.options["weights"] == [4.0, 1.0, 1.0]
    with Ensemble.load(["smollm2-135m"], n_ctx=512) as alone:
        assert alone.options == {}  # a model list without a preset: the engine's defaults
    # Other models with a preset's options: its weights are one per model of the preset, so
    # they do not come along to a different number of models; the rest does.
    with Ensemble.load(["smollm2-135m", "gemma3-270m"], preset="tiny", n_ctx=512) as pair:
        assert "weights" not in pair.options and pair.options["method"] == "safe"
        assert pair.generate("Hi", max_tokens=1).stats.tokens == 1
        assert pair.generate("Hi", max_tokens=1, weights=[3, 1]).stats.tokens == 1


def test_one_model_runs_alone_and_a_name_is_not_a_list_of_letters(offline_model_paths):
    with Ensemble.load("smollm2-135m", n_ctx=256) as alone:  # a string names one model
        assert alone.names == ["smollm2-135m"]
        assert alone.generate("Hi", max_tokens=2).method == "single"  # no method asked: it runs alone
        with pytest.raises(SafeLocalError, match="needs at least 2 models"):
            alone.generate("Hi", max_tokens=2, method="safe")
        with pytest.raises(SafeLocalError, match="unknown method"):
            alone.stream("Hi", method="bogus")  # checked at the call, not at the first event
    alone.close()  # closing twice is harmless
    with pytest.raises(SafeLocalError, match="is closed"):
        alone.generate("Hi", max_tokens=2)
    with pytest.raises(SafeLocalError, match="no models given"):
        Ensemble.load([])


def test_every_model_still_to_download_is_named_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty Hub cache
    with pytest.raises(SafeLocalError, match=r"qwen2.5-0.5b, smollm2-360m are not downloaded yet: run: safe-local pull qwen2.5-0.5b smollm2-360m"):
        Ensemble.load(["qwen2.5-0.5b", "smollm2-135m", "smollm2-360m"])
