"""The conversation list on the left: titles, newest first, the open one highlighted.

Choosing a row posts `ConversationList.Chosen`; the app loads it. Titles only (no dates), so the
list looks the same on every run of a snapshot test.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from safe_local.history import Conversation


class ConversationList(OptionList):
    @dataclass
    class Chosen(Message):
        conversation_id: int

    def show(self, conversations: list[Conversation], current: int | None) -> None:
        self.clear_options()
        self.add_options(Option(c.title, id=str(c.id)) for c in conversations)
        if current is not None:
            try:
                self.highlighted = self.get_option_index(str(current))
            except OptionDoesNotExist:  # the current conversation is not saved yet
                self.highlighted = None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(int(event.option.id)))
