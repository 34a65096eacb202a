"""Every key the chat app binds, in one table: default keys, binding ids and help text.

Bindings carry ids, so the `[keybindings]` table of the user's config (binding id = "keys",
comma-separated, Textual key names) is applied with Textual's own `App.set_keymap`. The help
screen and the command palette read the same table, so what they show is what is bound.
Key names are checked only for being non-empty strings; Textual decides what a terminal sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from textual.binding import Binding


@dataclass(frozen=True)
class KeyAction:
    id: str  # binding id, the name used in [keybindings]
    keys: str  # default keys, comma-separated
    action: str  # Textual action on the owning widget/app
    label: str  # short, for the footer
    description: str  # for the help screen and the command palette
    where: str  # which part of the app binds it (help screen section)
    show: bool = False  # shown in the footer


APP = "Anywhere"
COMPOSER = "Message input"
REPLY = "Ensembled tokens of a reply"
INSPECTOR = "Inspector"

ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("send", "enter", "send", "Send", "Send the message", COMPOSER),
    KeyAction("newline", "shift+enter,ctrl+j", "newline", "New line", "New line in the message", COMPOSER),
    KeyAction("stop", "escape", "stop", "Stop", "Stop the reply being generated", APP, show=True),
    KeyAction("new_chat", "ctrl+n", "new_chat", "New", "New conversation", APP, show=True),
    KeyAction("models", "ctrl+l", "models", "Models", "Choose models or a preset", APP, show=True),
    KeyAction("settings", "ctrl+o", "settings", "Settings", "Conversation settings", APP, show=True),
    KeyAction("toggle_ensembled", "ctrl+t", "toggle_ensembled", "Ensembled", "Highlight ensembled tokens", APP, show=True),
    KeyAction("inspect", "ctrl+g", "inspect", "Inspect", "Select ensembled tokens of the last reply", APP, show=True),
    KeyAction("rename", "ctrl+r", "rename", "Rename", "Rename the conversation", APP),
    KeyAction("delete", "f8", "delete", "Delete", "Delete the conversation", APP),
    KeyAction("export", "ctrl+s", "export", "Export", "Export the conversation to Markdown", APP),
    KeyAction("sidebar", "ctrl+b", "sidebar", "Sidebar", "Show or hide the conversation list", APP),
    KeyAction("help", "f1", "help", "Help", "All keys", APP, show=True),
    KeyAction("token_prev", "left", "move(-1)", "Prev", "Previous ensembled token", REPLY, show=True),
    KeyAction("token_next", "right", "move(1)", "Next", "Next ensembled token", REPLY, show=True),
    KeyAction("token_open", "enter,space", "open", "Inspect", "Open the inspector on it", REPLY, show=True),
    KeyAction("inspector_prev", "left", "move(-1)", "Prev", "Previous ensembled position", INSPECTOR, show=True),
    KeyAction("inspector_next", "right", "move(1)", "Next", "Next ensembled position", INSPECTOR, show=True),
    KeyAction("inspector_close", "escape,q", "close", "Close", "Close the inspector", INSPECTOR, show=True),
)

_BY_ID = {a.id: a for a in ACTIONS}


def bindings(where: str) -> list[Binding]:
    """Textual bindings (with ids) for one part of the app, with their default keys."""
    return [
        Binding(a.keys, a.action, a.label, show=a.show, id=a.id, tooltip=a.description)
        for a in ACTIONS
        if a.where == where
    ]


def load_keymap(table: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The `[keybindings]` config table as a Textual keymap, and one warning per bad entry."""
    keymap, warnings = {}, []
    for binding_id, keys in table.items():
        if binding_id not in _BY_ID:
            warnings.append(f"[keybindings] {binding_id}: no such action (see the help screen, F1)")
        elif isinstance(keys, list) and keys and all(isinstance(k, str) and k.strip() for k in keys):
            keymap[binding_id] = ",".join(k.strip() for k in keys)
        elif isinstance(keys, str) and keys.strip():
            keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
        else:
            warnings.append(f"[keybindings] {binding_id}: give keys as a string like \"ctrl+k\"")
    return keymap, warnings


def effective_keys(keymap: Mapping[str, str]) -> dict[str, str]:
    """Binding id -> the keys in force (the user's keymap over the defaults)."""
    return {a.id: keymap.get(a.id, a.keys) for a in ACTIONS}


def action(binding_id: str) -> KeyAction:
    return _BY_ID[binding_id]
