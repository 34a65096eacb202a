"""The chat log's widgets: a user message, and an assistant reply with its ensembled tokens.

An `AssistantTurn` shows its reply two ways: as Markdown (streamed with `Markdown.append`), and,
when the log has the `-ensembled` class, as plain text in a `TokenView` where every ensembled
position is highlighted (replaced drafts in one colour, confirmed ones in another). The token view
can be focused: left/right select a position, Enter (or a click on it) asks for the inspector.
What a position means is shown by the inspector screen; this module only locates and marks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.style import Style
from textual.widgets import Label, Markdown, Static

from safe_local import EnsembleEvent
from tui import keys

EOG_TEXT = "<eog>"
EOG_MARK = "∎"  # stands for an ensembled end of the reply, which has no text of its own


def token_span(text: str, event: EnsembleEvent) -> tuple[int, int]:
    """Where an ensembled position's chosen string sits in the reply text, clamped to it."""
    start = min(event.char_offset, len(text))
    length = 0 if event.chosen == EOG_TEXT else len(event.chosen)
    return start, min(start + length, len(text))


def token_content(text: str, events: list[EnsembleEvent], selected: int | None) -> Content:
    """The reply with each ensembled position styled and clickable (action `open(i)`)."""
    content = Content(text)
    tail = []
    for i, event in enumerate(events):
        start, end = token_span(text, event)
        style = "bold $text-warning on $warning-muted" if event.replaced else "underline $text-success"
        if i == selected:
            style = "bold reverse $accent"
        click = Style.from_meta({"@click": f"open({i})"})
        if end > start:
            content = content.stylize(style, start, end).stylize(click, start, end)
        else:  # an ensembled end of reply (or a string the stop logic cut): mark it after the text
            tail.append(Content.styled(EOG_MARK, style).stylize(click))
    return Content("").join([content, *tail])


class TokenView(Static, can_focus=True):
    """The reply as text with its ensembled positions; focus it to select one."""

    BINDINGS = keys.bindings(keys.REPLY)
    selected: reactive[int | None] = reactive(None)

    @dataclass
    class Open(Message):
        """The user asked for the inspector on ensembled position `index` of `turn`."""

        turn: "AssistantTurn"
        index: int

    def __init__(self, turn: "AssistantTurn") -> None:
        super().__init__("")
        self.turn = turn

    def refresh_tokens(self) -> None:
        self.update(token_content(self.turn.text, self.turn.events, self.selected if self.has_focus else None))

    def watch_selected(self) -> None:
        self.refresh_tokens()

    def on_focus(self) -> None:
        if self.selected is None and self.turn.events:
            self.selected = len(self.turn.events) - 1
        self.refresh_tokens()

    def on_blur(self) -> None:
        self.refresh_tokens()

    def action_move(self, step: int) -> None:
        if self.turn.events:
            current = self.selected if self.selected is not None else -1
            self.selected = max(0, min(len(self.turn.events) - 1, current + step))

    def action_open(self, index: int | None = None) -> None:
        index = self.selected if index is None else index
        if index is not None and 0 <= index < len(self.turn.events):
            self.selected = index
            self.post_message(self.Open(self.turn, index))


class UserTurn(Vertical):
    def __init__(self, text: str) -> None:
        super().__init__(classes="turn")
        self.text = text

    def compose(self) -> ComposeResult:
        yield Label("You", classes="who")
        yield Static(Content(self.text), classes="body")


class AssistantTurn(Vertical):
    """One reply; `message_id` links it to its row in the history."""

    def __init__(self, message_id: int, text: str = "", events: list[EnsembleEvent] | None = None,
                 status: str = "done", models: str = "") -> None:
        super().__init__(classes="turn")
        self.message_id = message_id
        self.text = text
        self.events = list(events or [])
        self.status = status
        self.models = models

    def compose(self) -> ComposeResult:
        yield Label(self._header(), classes="who")
        yield Markdown(self.text, classes="body")
        yield TokenView(self)

    def _header(self) -> Content:
        marks = {"generating": "[$accent]…[/]", "stopped": "[$warning]■ stopped[/]",
                 "interrupted": "[$warning]■ interrupted[/]", "error": "[$error]✗ failed[/]"}
        ensembled = f" · {len(self.events)} ensembled" if self.events else ""
        head = Content.from_markup("Ensemble[dim]$models$ens[/] ", models=f" · {self.models}" if self.models else "",
                                   ens=ensembled)
        return head + Content.from_markup(marks.get(self.status, ""))

    def _refresh_header(self) -> None:
        if self.is_mounted:
            self.query_one(".who", Label).update(self._header())

    def append(self, text: str, events: list[EnsembleEvent]) -> None:
        """Streamed text and ensemble events arrived."""
        self.text += text
        self.events.extend(events)
        if text:
            self.query_one(Markdown).append(text)
        self.query_one(TokenView).refresh_tokens()
        if events:
            self._refresh_header()

    def set_status(self, status: str) -> None:
        self.status = status
        self._refresh_header()

    @property
    def token_view(self) -> TokenView:
        return self.query_one(TokenView)
