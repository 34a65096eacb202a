"""Which models an ensemble is made of: an explicit model list, or a preset by name.

``select_ensemble`` turns a model list and/or a preset (default: the catalog's
default_preset) into model specs, drafter first, and the preset's generation options; ``resolve_ensemble``
also turns the specs into file paths through safe_local.store.model_paths, which never uses the
network. Left out: the pre-load checks (safe_local.store.preflight) and loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from safe_local.errors import SafeLocalError
from safe_local.placement import place
from safe_local.store.catalog import load_catalog
from safe_local.store.model_paths import resolve_model

__all__ = ["resolve_ensemble", "select_ensemble"]


def select_ensemble(models: Sequence[str | Path] | None = None, preset: str | None = None) -> tuple[list[str], dict[str, Any]]:
    """(model specs, drafter first; generation options of the preset, {} without one).

    A spec keeps its `@host:port` placement (safe_local.placement), and a preset's `rpc` table
    adds one to the models it names.

    A preset with an explicit model list keeps the list and contributes its options, except
    weights for a different number of models (they are one per model of the preset); with
    neither, the catalog's default preset is used.
    """
    catalog = load_catalog()
    name = preset or (None if models else catalog.default_preset)
    options: dict[str, Any] = {}
    specs = [str(m).strip() for m in models] if models else []
    if name is not None:
        chosen = catalog.presets.get(name)
        if chosen is None:
            raise SafeLocalError(f"unknown preset {name!r}: use one of {', '.join(catalog.presets)}")
        options = chosen.generation_options()
        if specs and len(options.get("weights") or specs) != len(specs):
            del options["weights"]
        # The preset's placements travel with the specs, as `name@host:port` typed by hand would,
        # for the models it names that the user did not place themselves.
        names, endpoints = place(specs or list(chosen.models))
        endpoints = [e or chosen.rpc.get(n) for n, e in zip(names, endpoints)]
        specs = [f"{n}@{e}" if e else n for n, e in zip(names, endpoints)]
        place(specs)  # two models on one server, whichever source placed them
    return specs, options


def resolve_ensemble(models: Sequence[str | Path] | None = None, preset: str | None = None) -> tuple[list[Path], dict[str, Any]]:
    """(GGUF paths, drafter first; the preset's generation options). No network access."""
    specs, options = select_ensemble(models, preset)
    return [resolve_model(spec) for spec in specs], options
