"""The chat log's widgets: a user message, and an assistant reply with its ensembled tokens.

An `AssistantTurn` shows its reply two ways: as Markdown streamed with `Markdown.append`, and,
while `show_votes` is on (Ctrl+T), as a `TokenView`: the same Markdown with every ensembled
position marked, which can be focused to pick one for the inspector (tui.token_view).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label, Markdown, Static

from safe_local import EnsembleEvent
from tui.token_view import TokenView


class UserTurn(Vertical):
    def __init__(self, text: str) -> None:
        super().__init__(classes="turn")
        self.text = text

    def compose(self) -> ComposeResult:
        yield Label("You", classes="who")
        yield Static(Content(self.text), classes="body")


class AssistantTurn(Vertical):
    """One reply; `message_id` links it to its row in the history."""

    show_votes: reactive[bool] = reactive(False)

    def __init__(self, message_id: int, text: str = "", events: list[EnsembleEvent] | None = None,
                 status: str = "done", models: str = "", show_votes: bool = False) -> None:
        super().__init__(classes="turn -votes" if show_votes else "turn")
        self.message_id = message_id
        self.text = text
        self.events = list(events or [])
        self.status = status
        self.models = models
        self.set_reactive(AssistantTurn.show_votes, show_votes)

    def compose(self) -> ComposeResult:
        yield Label(self._header(), classes="who")
        yield Markdown(self.text, classes="body")
        yield TokenView(self.text, self.events, active=self.show_votes)

    def watch_show_votes(self, show: bool) -> None:
        self.set_class(show, "-votes")
        for view in self.query(TokenView):
            view.active = show

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
            self.query_one(".body", Markdown).append(text)
        self.token_view.show(self.text, self.events)
        if events:
            self._refresh_header()

    def set_status(self, status: str) -> None:
        self.status = status
        self._refresh_header()

    @property
    def token_view(self) -> TokenView:
        return self.query_one(TokenView)
