"""The message input: a multi-line TextArea where Enter sends and Shift+Enter / Ctrl+J add a line.

Keys reach the focused widget through its own message queue, in the order they were typed, but
Textual runs a key's *binding* elsewhere: a priority binding in the app's task as soon as the
app reads the key, an ordinary one once the key has bubbled back up to the app. When keys come
in one burst (tmux send-keys, a fast typist, a terminal that batches input, a busy app) such a
binding acts before the characters just ahead of it are in the text: Enter sent an empty or
half-typed message, Ctrl+J and Backspace landed in the wrong place (Textual issue #6605). So the
composer runs its own bindings (send, newline, and TextArea's editing keys) in `_on_key`, in the
order the keys came. They keep their ids, so the config can rebind them like every other key.

Sending takes the message out of the input at once and posts `Submitted`; the app hands it back
with `restore` when it cannot send now. Text typed after Enter in the same burst stays in the
input. A bracketed paste arrives as one event and keeps its newlines. Blank messages are not sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from tui import keys


class Composer(TextArea):
    BINDINGS = keys.bindings(keys.COMPOSER)

    @dataclass
    class Submitted(Message):
        """The user sent `text` (already stripped of surrounding blank space)."""

        composer: Composer
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         placeholder="Message the ensemble…  (Enter sends, Shift+Enter or Ctrl+J adds a line)", **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        # The binding Textual would pick for this key (the keymap applied), if it is this widget's.
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.node is self and active.enabled:
            event.stop()
            event.prevent_default()
            await self.run_action(active.binding.action)
        else:
            await super()._on_key(event)

    def action_send(self) -> None:
        text = self.text.strip()
        if text:
            self.clear()
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def restore(self, text: str) -> None:
        """Put a message back in front of whatever was typed since, the cursor after it."""
        typed = self.text
        self.text = text + "\n" + typed if typed.strip() else text
        self.move_cursor((text.count("\n"), len(text) - text.rfind("\n") - 1))
