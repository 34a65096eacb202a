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
        assert ens.options["weights"] == [2.0, 1.0, 1.0]
    with Ensemble.load(["smollm2-135m"], n_ctx=512) as alone:
        assert alone.options == {}  # a model list without a preset: the engine's defaults
    # Other models with a preset's options: weights that do not fit fail per call, not at load,
    # so a call can pass its own.
    with Ensemble.load(["smollm2-135m", "gemma3-270m"], preset="tiny", n_ctx=512) as pair:
        with pytest.raises(SafeLocalError, match="weights"):
            pair.generate("Hi", max_tokens=1)
        assert pair.generate("Hi", max_tokens=1, weights=[1, 1]).stats.tokens == 1
