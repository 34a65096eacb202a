"""The chat's view of the model store: picker rows, presets applied to settings, what is missing.

Thin glue over `safe_local.store`: its presets and local models become picker `Choice`s; a
chosen preset brings its method, base, weights and defaults into the conversation's settings;
`missing` names the models of a choice that would have to be pulled first (never touching the
network); `pull` is the store's own download. Loading is `Ensemble.load(models, preset=...)`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from safe_local import Ensemble, store
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


def startup_settings(chat_table: Mapping[str, Any], handed: Ensemble | None = None) -> ChatSettings:
    """The settings a chat opens with when neither --preset nor --models was given.

    The ensemble's options come first: a handed-in ensemble's own, else those of the [chat]
    table's preset or, with no model list there, the default preset's (so `safe-local chat`
    generates as `safe-local run` does). The [chat] table's values go over them: the user wrote
    those for the chat. The preset stays as the table names it, so an implicit default is not
    recorded as a choice.
    """
    table = ChatSettings.from_dict(chat_table)
    if handed is not None:
        base = ChatSettings.from_dict(handed.options)
    elif table.preset or not table.models:
        base = replace(apply_preset(ChatSettings(), table.preset or default_preset()), preset=table.preset)
    else:
        base = ChatSettings()
    return ChatSettings.from_dict(chat_table, base)


def apply_choice(settings: ChatSettings, choice: Choice) -> ChatSettings:
    """The settings with the chosen ensemble (a single model runs alone, as `single`)."""
    if choice.kind == "preset":
        return apply_preset(settings, choice.name)
    method = "single" if len(choice.models) == 1 else settings.method
    return replace(settings, models=list(choice.models), preset=None, weights=None, method=method)


def missing(settings: ChatSettings) -> list[str]:
    """The model specs these settings need that are not on this machine yet."""
    specs, _ = store.select_ensemble(settings.models or None, settings.preset)
    return [s for s in specs if not store.is_local(s)]
