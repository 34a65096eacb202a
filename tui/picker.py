"""The model picker: presets and local models to chat with, or model names typed by hand.

It shows `Choice` rows (built from the model store by tui.catalog, or given directly) in two
sections, presets then single models, each marked when its files are not on this machine yet.
It dismisses with the chosen `Choice`; whether to download first is the app's business (it
offers a pull). Typing `a,b,c` (short names or .gguf paths, drafter first) in the box at the top
picks that list as a custom ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Choice:
    kind: str  # "preset" | "model" | "custom"
    name: str
    models: list[str] = field(default_factory=list)  # specs, drafter first
    detail: str = ""
    local: bool = True  # every file is already on this machine

    @property
    def preset(self) -> str | None:
        return self.name if self.kind == "preset" else None


def _row(choice: Choice, current: bool) -> Content:
    mark = Content.styled("● ", "$accent") if current else Content("  ")
    where = Content.styled("  ↓ not downloaded", "$text-warning") if not choice.local else Content("")
    return Content.assemble(mark, (f"{choice.name:<22}", "bold"), (choice.detail, "dim"), where)


class PickerScreen(ModalScreen[Choice | None]):
    BINDINGS = [("escape", "dismiss", "Cancel")]

    def __init__(self, choices: list[Choice], current: str | None = None) -> None:
        super().__init__()
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        options: list[Option | None] = []
        for kind, title in (("preset", "Presets (drafter first)"), ("model", "Single models")):
            group = [(i, c) for i, c in enumerate(self.choices) if c.kind == kind]
            if not group:
                continue
            options.append(Option(Content.styled(title, "bold underline"), disabled=True))
            options += [Option(_row(c, c.name == self.current), id=str(i)) for i, c in group]
        with Vertical(id="picker", classes="dialog wide"):
            yield Label("Choose models", classes="title")
            yield Input(placeholder="or type names / .gguf paths, drafter first: a,b,c", id="custom")
            yield OptionList(*options, id="choices")
            yield Label("Enter picks · ↓ marks models that will be downloaded first · Esc cancels", classes="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id)])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        specs = [s.strip() for s in event.value.split(",") if s.strip()]
        if specs:
            self.dismiss(Choice("custom", ",".join(specs), specs, local=True))
