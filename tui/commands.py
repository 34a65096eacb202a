"""Command palette entries: the app's actions, and its conversations by title.

Actions are added the Textual way, as SystemCommands from `App.get_system_commands`, built from
the key table so the palette and the keys never disagree. `ConversationsProvider` is a palette
Provider that finds conversations by title and opens the chosen one.
"""

from __future__ import annotations

from functools import partial
from typing import Iterable, Protocol, cast

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

from safe_local.history import History
from tui import keys
from tui.base import ChatBase

PALETTE_ACTIONS = ("new_chat", "models", "settings", "toggle_ensembled", "inspect", "rename", "delete",
                   "export", "sidebar", "stop", "help")


class ConversationOpener(Protocol):
    """What the provider needs of the app it runs in."""

    history: History

    def open_conversation(self, conversation_id: int) -> None: ...


def action_commands(app: ChatBase) -> Iterable[SystemCommand]:
    in_force = keys.effective_keys(app.keymap)
    for binding_id in PALETTE_ACTIONS:
        a = keys.action(binding_id)
        yield SystemCommand(a.description, f"{in_force[binding_id]}", partial(app.run_action, a.action))


class ConversationsProvider(Provider):
    """Open a saved conversation by (fuzzy) title."""

    @property
    def opener(self) -> ConversationOpener:
        return cast(ConversationOpener, self.app)

    def _items(self) -> list[tuple[str, int]]:
        return [(f"Open conversation: {c.title}", c.id) for c in self.opener.history.list_conversations()]

    async def discover(self) -> Hits:
        for title, conv_id in self._items()[:10]:
            yield DiscoveryHit(title, partial(self.opener.open_conversation, conv_id))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, conv_id in self._items():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.opener.open_conversation, conv_id))
