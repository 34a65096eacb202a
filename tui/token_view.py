"""A reply with its ensembled positions marked in the rendered Markdown; focus it to pick one.

`TokenView` renders the reply with Textual's own Markdown widget, so code blocks, lists and
tables look as in the plain view, then marks the ensembled positions inside the rendered pieces
(where they land is tui.votes' job): replaced drafts in one colour, confirmed ones in another,
the selected one reversed. It renders only while `active` (the votes are shown); text streaming
in meanwhile renders it again, with at most one render running and one waiting. Moving the
selection restyles the pieces without rendering again. Left/right select a position, Enter or a
click on it posts `Open`. What a position means is the inspector's business, not this view's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock

from safe_local import EnsembleEvent
from tui import keys, votes


def rendered_pieces(markdown: Markdown) -> Iterator[tuple[Static, Content, tuple[int, int]]]:
    """The widgets showing the Markdown's text, in document order, with their content and the
    source lines of the block each belongs to (a table cell: its table's; code: its fence's)."""
    for widget in markdown.query(Static):
        content = widget.content
        if isinstance(content, Content) and content.plain:
            block = next(w for w in (widget, *widget.ancestors) if isinstance(w, MarkdownBlock))
            yield widget, content, block.source_range


class TokenView(Vertical, can_focus=True):
    """The reply as Markdown with its ensembled positions; focus it to select one."""

    BINDINGS = keys.bindings(keys.REPLY)
    selected: reactive[int | None] = reactive(None)
    active: reactive[bool] = reactive(False)

    @dataclass
    class Open(Message):
        """The user asked for the inspector on ensembled position `index` of `events`."""

        events: list[EnsembleEvent]
        index: int

    def __init__(self, text: str, events: list[EnsembleEvent], active: bool = False) -> None:
        super().__init__()
        self.text = text
        self.events = events
        self.set_reactive(TokenView.active, active)
        self._pieces: list[tuple[Static, Content, votes.Placed]] = []
        self._stale = True
        self._rendering = False

    def compose(self) -> ComposeResult:
        yield Markdown()

    def on_mount(self) -> None:
        self._render_if_shown()

    def show(self, text: str, events: list[EnsembleEvent]) -> None:
        """The reply's text or positions changed."""
        self.text, self.events, self._stale = text, events, True
        self._render_if_shown()

    def watch_active(self) -> None:
        self._render_if_shown()

    def _render_if_shown(self) -> None:
        if self.active and self._stale and not self._rendering and self.is_mounted:
            self._rendering = True
            self.run_worker(self._render_votes(), group="votes")

    async def _render_votes(self) -> None:
        markdown = self.query_one(Markdown)
        try:
            while self._stale and self.active:
                self._stale = False
                text, events = self.text, list(self.events)
                await markdown.update(text)
                pieces = list(rendered_pieces(markdown))
                leaves = [votes.Leaf(content.plain, lines) for _, content, lines in pieces]
                placed = votes.place(text, events, leaves)
                self._pieces = [(widget, content, p) for (widget, content, _), p in zip(pieces, placed)]
                self._mark()
        finally:
            self._rendering = False

    def _mark(self) -> None:
        # Positions are indices into `events`, which only ever grows: a placement made from an
        # earlier copy stays valid.
        selected = self.selected if self.has_focus else None
        for widget, content, placed in self._pieces:
            widget.update(votes.mark(content, placed, self.events, selected))
            if selected is not None and any(i == selected for *_, i in placed.spans + placed.marks):
                widget.scroll_visible(animate=False)

    def watch_selected(self) -> None:
        self._mark()

    def on_focus(self) -> None:
        if self.selected is None and self.events:
            self.selected = len(self.events) - 1
        self._mark()

    def on_blur(self) -> None:
        self._mark()

    def on_click(self, event: Click) -> None:
        index = event.style.meta.get("vote")
        if isinstance(index, int):
            self.action_open(index)

    def action_move(self, step: int) -> None:
        if self.events:
            current = self.selected if self.selected is not None else -1
            self.selected = max(0, min(len(self.events) - 1, current + step))

    def action_open(self, index: int | None = None) -> None:
        index = self.selected if index is None else index
        if index is not None and 0 <= index < len(self.events):
            self.selected = index
            self.post_message(self.Open(self.events, index))
