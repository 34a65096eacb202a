"""The conversation settings form: method, base, chunk, weights, sharpening, sampling, loops,
repetition penalties, system prompt (the penalties' windows and DRY's finer options are set in
the `[chat]` config table).

It edits a copy of the conversation's ChatSettings and dismisses with the new settings once the
engine's own validation accepts them for the loaded number of models (an error is shown in the
form, which stays open). The models and preset are chosen in the model picker, not here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Switch, TextArea

from safe_local import BASES, METHODS, SHARPENING, SafeLocalError
from tui.settings import ChatSettings


def _number(text: str, kind: Callable[[str], float], name: str, optional: bool = False):
    text = text.strip()
    if not text and optional:
        return None
    try:
        return kind(text)
    except ValueError:
        raise SafeLocalError(f"{name}: '{text}' is not a {'whole ' if kind is int else ''}number") from None


def _chunk(text: str) -> int | str:
    return "auto" if text.strip().lower() == "auto" else _number(text, int, "chunk")


def _weights(text: str) -> list[float] | None:
    text = text.strip()
    return [_number(w, float, "weights") for w in text.split(",")] if text else None


class SettingsScreen(ModalScreen[ChatSettings | None]):
    BINDINGS = [("escape", "dismiss", "Cancel"), ("ctrl+s", "save", "Save")]

    def __init__(self, settings: ChatSettings, n_models: int) -> None:
        super().__init__()
        self.settings = settings
        self.n_models = n_models

    def compose(self) -> ComposeResult:
        s = self.settings
        with VerticalScroll(id="settings", classes="dialog wide") as dialog:  # scrolls in a short terminal
            dialog.border_title = "Conversation settings"
            models = ", ".join(s.models) if s.models else "default ensemble"
            yield Label(f"Models: {s.preset or models} (ctrl+l chooses) · ctrl+s saves · esc cancels", classes="hint")
            with Grid(id="fields"):
                yield from self._field("Method", Select([(m, m) for m in METHODS], value=s.method, allow_blank=False, id="method"))
                yield from self._field("SAFE base", Select([(b, b) for b in BASES], value=s.base, allow_blank=False, id="base"))
                yield from self._field("Chunk (or auto)", Input(str(s.chunk), id="chunk"))
                yield from self._field("Weights", Input(",".join(f"{w:g}" for w in s.weights or []),
                                                        placeholder="equal (drafter first)", id="weights"))
                yield from self._field("Sharpening", Select([(x, x) for x in SHARPENING], value=s.sharpening, allow_blank=False, id="sharpening"))
                yield from self._field("Temperature", Input(f"{s.temperature:g}", placeholder="0 = greedy", id="temperature", type="number"))
                yield from self._field("Top-p", Input(f"{s.top_p:g}", id="top_p", type="number"))
                yield from self._field("Seed", Input("" if s.seed is None else str(s.seed), placeholder="random", id="seed", type="integer"))
                yield from self._field("Max tokens", Input(str(s.max_tokens), id="max_tokens", type="integer"))
                yield from self._field("Stop loops", Switch(s.stop_loops, id="stop_loops", tooltip="end a reply that keeps repeating itself"))
                yield from self._field("Min-p", Input(f"{s.min_p:g}", placeholder="0 = off", id="min_p", type="number"))
                yield from self._field("Repeat penalty", Input(f"{s.repeat_penalty:g}", placeholder="1 = off", id="repeat_penalty", type="number"))
                yield from self._field("Presence pen.", Input(f"{s.presence_penalty:g}", placeholder="0 = off", id="presence_penalty", type="number"))
                yield from self._field("DRY", Input(f"{s.dry_multiplier:g}", placeholder="0 = off", id="dry_multiplier", type="number",
                                                    tooltip="DRY multiplier: penalize tokens that extend a repeat (0.8 is usual)"))
            system = TextArea(s.system, id="system")
            system.border_title = "System prompt"
            yield system
            yield Label("", id="settings-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def _field(self, label: str, widget) -> ComposeResult:
        yield Label(label, classes="field-label")
        yield widget

    def read(self) -> ChatSettings:
        """The form as settings; raises SafeLocalError on a value the engine would refuse."""
        value = lambda wid: self.query_one(f"#{wid}").value  # noqa: E731 - a local shorthand
        settings = replace(
            self.settings,
            method=value("method"),
            base=value("base"),
            chunk=_chunk(value("chunk")),
            weights=_weights(value("weights")),
            sharpening=value("sharpening"),
            temperature=_number(value("temperature"), float, "temperature"),
            top_p=_number(value("top_p"), float, "top-p"),
            seed=_number(value("seed"), int, "seed", optional=True),
            max_tokens=_number(value("max_tokens"), int, "max tokens"),
            stop_loops=value("stop_loops"),
            min_p=_number(value("min_p"), float, "min-p"),
            repeat_penalty=_number(value("repeat_penalty"), float, "repeat penalty"),
            presence_penalty=_number(value("presence_penalty"), float, "presence penalty"),
            dry_multiplier=_number(value("dry_multiplier"), float, "DRY multiplier"),
            system=self.query_one("#system", TextArea).text.strip(),
        )
        settings.validate(self.n_models)
        return settings

    def action_save(self) -> None:
        try:
            self.dismiss(self.read())
        except SafeLocalError as e:
            self.query_one("#settings-error", Label).update(f"✗ {e}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
