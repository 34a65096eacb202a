"""The help screen: every key binding in force, grouped by where it applies.

It lists the table in tui.keys with the user's `[keybindings]` overrides applied, so a rebound key
shows as rebound. Textual's own keys (command palette, quit) are listed after the app's.
"""

from __future__ import annotations

from typing import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import keys

TEXTUAL_KEYS = (("ctrl+p", "Command palette (every action, conversations by name)"), ("ctrl+q", "Quit"))
INTRO = (
    "Ensembled tokens are positions where the models disagreed and voted. Turn highlighting on "
    "(ctrl+t): orange tokens are where the vote replaced the drafter's token, underlined green ones "
    "where it confirmed it. Select one (ctrl+g, then ←/→, or click it) and press Enter to see each "
    "model's candidates, the consensus tests and the choice. Keys can be changed in the "
    "[keybindings] table of the config file, by the ids below."
)


def pretty_keys(spec: str) -> str:
    return "  ".join(k.strip() for k in spec.split(","))


def help_content(keymap: Mapping[str, str]) -> Content:
    in_force = keys.effective_keys(keymap)
    sections: dict[str, list[Content]] = {}
    for a in keys.ACTIONS:
        sections.setdefault(a.where, []).append(
            Content.assemble((f"  {pretty_keys(in_force[a.id]):<22}", "bold $accent"), f"{a.description:<44}", (a.id, "dim"))
        )
    sections["Textual"] = [
        Content.assemble((f"  {k:<22}", "bold $accent"), text) for k, text in TEXTUAL_KEYS
    ]
    lines: list[Content] = [Content(INTRO), Content("")]
    for where, rows in sections.items():
        lines += [Content.styled(where, "bold underline"), *rows, Content("")]
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape,f1,q", "dismiss", "Close")]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = dict(keymap)

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(Content.styled("safe-local chat — keys", "bold"), id="help-title")
            with VerticalScroll():
                yield Static(help_content(self.keymap))
