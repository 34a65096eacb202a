"""The chat's view of the model store: picker rows, presets applied to settings, what is missing.

Thin glue over `safe_local.store`: its presets and local models become picker `Choice`s; a
chosen preset brings its method, base, weights and defaults into the conversation's settings;
`missing` names the models of a choice that would have to be pulled first (never touching the
network); `pull` is the store's own download. Loading is `Ensemble.load(models, preset=...)`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from safe_local import Ensemble, model_name, store
from tui.picker import Choice
from tui.settings import ChatSettings

pull = store.pull


def choices() -> list[Choice]:
    """Presets, then the models already on this machine, as picker rows."""
    rows = [
        Choice("preset", p.name, list(p.models), " + ".join(p.models), all(store.is_local(s) for s in p.models))
        for p in store.list_presets()
    ]
    rows += [
        Choice("model", m.name, [m.name], f"{m.size / 1e6:,.0f} MB · {m.source}", True)
        for m in store.list_local()
    ]
    return rows


def default_preset() -> str:
    return store.load_catalog().default_preset


def apply_preset(settings: ChatSettings, name: str) -> ChatSettings:
    """The settings on preset `name`: its models, method, base, weights and other defaults."""
    preset = next((p for p in store.list_presets() if p.name == name), None)
    if preset is None:
        return replace(settings, preset=name, models=[])  # loading names the unknown preset
    options = {"weights": None, **preset.generation_options(), "preset": name, "models": []}
    return ChatSettings.from_dict(options, settings)


def new_chat_settings(
    chat_table: Mapping[str, Any],
    *,
    preset: str | None = None,
    models: Sequence[str] = (),
    handed: Ensemble | None = None,
) -> ChatSettings:
    """The settings a new conversation on an ensemble starts with, from the [chat] table.

    A preset or models chosen by name (--preset/--models, the picker): a chosen preset's options
    win over the [chat] table's, chosen models get none (a single one runs alone). With no
    choice, the chat starts on a handed-in ensemble with its own options, the [chat] table's
    models, or the [chat] table's preset (else the default preset) with that preset's options,
    and then the [chat] table's values win: the user wrote them for exactly this. The preset's
    name is recorded, so a conversation keeps its ensemble when the default preset changes.
    """
    table = ChatSettings.from_dict(chat_table)
    if preset:
        return apply_preset(table, preset)
    if models:
        return replace(table, models=list(models), preset=None, method=_method_for(models, table.method))
    if handed is not None:
        return ChatSettings.from_dict(chat_table, ChatSettings.from_dict(handed.options))
    if table.models:  # the [chat] table's models win over its preset, as --models would
        return replace(table, preset=None, method=_method_for(table.models, table.method))
    return ChatSettings.from_dict(chat_table, apply_preset(ChatSettings(), table.preset or default_preset()))


def _method_for(models: Sequence[str], method: str) -> str:
    return "single" if len(models) == 1 else method


def apply_choice(settings: ChatSettings, choice: Choice) -> ChatSettings:
    """The settings with the chosen ensemble (a single model runs alone, as `single`)."""
    if choice.kind == "preset":
        return apply_preset(settings, choice.name)
    return replace(settings, models=list(choice.models), preset=None, weights=None,
                   method=_method_for(choice.models, settings.method))


def missing(settings: ChatSettings) -> list[str]:
    """The models these settings need that are not on this machine yet (placements dropped: a model
    on an RPC server is still loaded from a file here)."""
    specs, _ = store.select_ensemble(settings.models or None, settings.preset)
    return [name for name in map(model_name, specs) if not store.is_local(name)]
