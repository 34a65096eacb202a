"""The message input: a multi-line TextArea where Enter sends and Shift+Enter / Ctrl+J add a line.

The send and newline keys are priority bindings with ids ("send", "newline"), so they win over
TextArea's own Enter handling and can be rebound from the config like every other key. Pasted
text keeps its newlines (TextArea inserts it as is). Sending an empty or blank message is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import TextArea

from tui import keys


class Composer(TextArea):
    BINDINGS = keys.bindings(keys.COMPOSER, priority=True)

    @dataclass
    class Submitted(Message):
        """The user sent `text` (already stripped of surrounding blank space)."""

        composer: "Composer"
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         placeholder="Message the ensemble…  (Enter sends, Shift+Enter or Ctrl+J adds a line)", **kwargs)

    def action_send(self) -> None:
        text = self.text.strip()
        if text:
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def restore(self, text: str) -> None:
        """Put a message back (a stopped reply produced nothing), cursor at its end."""
        self.text = text
        self.move_cursor(self.document.end)
