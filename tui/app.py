"""The chat app: conversations on the left, the streaming reply in the middle, status below.

`ChatApp` lays out the widgets and handles the conversation, inspector, settings and help
actions. It is the top of a line of layers, each in its own module: the shared state and views
(tui.base, ChatBase), choosing and loading models (tui.ensembles, EnsembleControl), sending and
streaming replies (tui.replies, ReplyControl). Every error a user can cause ends as a notification, never a traceback.

The app can be handed an already-loaded Ensemble (tests, embedding), which it uses but never
closes; ensembles it loads itself it closes on exit or when replacing them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from safe_local import SafeLocalError
from safe_local.paths import data_dir
from tui import catalog, keys
from tui.base import wanted
from tui.commands import ConversationsProvider, action_commands
from tui.composer import Composer
from tui.dialogs import AskText, Confirm
from tui.help import HelpScreen
from tui.inspector import InspectorScreen
from tui.records import ReplyFigures, events_from_meta
from tui.replies import ReplyControl
from tui.settings import ChatSettings
from tui.settings_screen import SettingsScreen
from tui.sidebar import ConversationList
from tui.status import StatusLine
from tui.token_view import TokenView
from tui.turns import AssistantTurn, UserTurn

WELCOME = (
    "Ask the ensemble anything.\n\n"
    "Small models answer together: the first drafts,\n"
    "the others check, and where they disagree they vote.\n\n"
    "Ctrl+T shows the votes · Ctrl+G inspects one · F1 keys"
)


class ChatApp(ReplyControl):
    CSS_PATH = "app.tcss"
    TITLE = "safe-local chat"
    BINDINGS = keys.bindings(keys.APP)
    COMMANDS = App.COMMANDS | {ConversationsProvider}

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        with Horizontal(id="body"):
            sidebar = ConversationList(id="sidebar")
            sidebar.border_title = "Conversations"
            yield sidebar
            with Vertical(id="main"):
                with VerticalScroll(id="log"):
                    yield Static(WELCOME, id="welcome")
                yield Composer(id="composer")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Focus the input now, before the app reads its first key: keys typed while it starts
        # are already queued, and `focus()` (queued behind them) or the screen's auto-focus (the
        # sidebar) would let them go to a widget that drops them.
        self.screen.set_focus(self.query_one(Composer))
        self.set_keymap(self.keymap)
        for warning in self.config_warnings:
            self.notify(warning, title="Config", severity="warning")
        self.refresh_sidebar()
        self.refresh_status()
        if self.ensemble is None:
            self.load_ensemble(self.defaults)

    async def on_unmount(self) -> None:
        reply = self.reply
        if reply is not None and not reply.finished.is_set():
            streaming = reply.active  # not yet ended on screen: keep its text as stopped
            reply.detached = True
            reply.cancel.set()
            # Wait off the event loop, so a flush the worker is already making can still complete.
            await asyncio.to_thread(reply.finished.wait, 30)
            if streaming:
                self.store_reply(reply, "stopped")
        if self.owns_ensemble and self.ensemble is not None:
            self.ensemble.close()
        if self._owns_history:
            self.history.close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # only offered (and shown in the footer) while a reply streams
            return self.reply is not None and self.reply.active
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from action_commands(self)

    # --- conversations --------------------------------------------------------------------------

    def open_conversation(self, conversation_id: int) -> None:
        if self.busy():
            return
        try:
            self.conversation = self.history.get(conversation_id)
        except SafeLocalError as e:
            self.notify(str(e), severity="error")
            return
        self.settings = ChatSettings.from_dict(self.conversation.settings, self.defaults)
        self.clear_log()
        turns, self.figures = [], None
        for m in self.history.messages(conversation_id):
            if m.role == "user":
                turns.append(UserTurn(m.content))
            else:
                figures = ReplyFigures.from_meta(m.meta)
                models = ", ".join(figures.models) if figures else ""
                turns.append(AssistantTurn(m.id, m.content, events_from_meta(m.meta), m.status, models,
                                           show_votes=self.show_ensembled))
                self.figures = figures or self.figures
        if turns:
            self.mount_turns(*turns)
        self.refresh_sidebar()
        self.refresh_status()
        self.ensure_loaded_for(self.settings)

    def on_conversation_list_chosen(self, event: ConversationList.Chosen) -> None:
        self.open_conversation(event.conversation_id)

    def action_new_chat(self) -> None:
        if self.busy():
            return
        self.conversation = None
        if wanted(self.settings) == wanted(self.defaults):
            self.settings = replace(self.defaults)
        else:  # on the ensemble picked since, with that ensemble's defaults
            self.settings = catalog.new_chat_settings(self.chat_table, preset=self.settings.preset,
                                                      models=self.settings.models)
        self.figures = None
        self.clear_log()
        self.refresh_sidebar()
        self.refresh_status()
        self.query_one(Composer).focus()

    def action_rename(self) -> None:
        conv = self.conversation
        if conv is None:
            self.notify("Nothing to rename yet: send a message first.", severity="warning")
            return

        def done(title: str | None) -> None:
            if title:
                self.history.rename(conv.id, title)
                self.conversation = self.history.get(conv.id)
                self.refresh_sidebar()
                self.refresh_status()

        self.push_screen(AskText("Rename conversation", conv.title), done)

    def action_delete(self) -> None:
        conv = self.conversation
        if conv is None or self.busy():
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.history.delete(conv.id)
                self.notify(f"Deleted “{conv.title}”.")
                self.conversation = None
                self.action_new_chat()

        self.push_screen(Confirm(f"Delete “{conv.title}” for good?", yes="Delete"), done)

    def action_export(self) -> None:
        conv = self.conversation
        if conv is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        slug = re.sub(r"[^a-z0-9]+", "-", conv.title.lower()).strip("-") or "chat"
        path = data_dir() / "exports" / f"{slug}-{conv.id}.md"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.history.export_markdown(conv.id), encoding="utf-8")
        except OSError as e:
            self.notify(f"Cannot write {path}: {e.strerror or e}", severity="error")
            return
        self.notify(str(path), title="Exported to Markdown")

    def action_sidebar(self) -> None:
        sidebar = self.query_one(ConversationList)
        sidebar.display = not sidebar.display

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    # --- ensembled tokens ---------------------------------------------------------------------

    def action_toggle_ensembled(self) -> None:
        self.show_ensembled = not self.show_ensembled

    def action_inspect(self) -> None:
        turns = [t for t in self.query(AssistantTurn) if t.events]
        if not turns:
            self.notify("No ensembled tokens in this conversation yet.", severity="warning")
            return
        self.show_ensembled = True
        turns[-1].token_view.focus()
        turns[-1].scroll_visible()

    def on_token_view_open(self, event: TokenView.Open) -> None:
        self.push_screen(InspectorScreen(event.events, event.index))

    # --- settings and models ------------------------------------------------------------------

    def action_settings(self) -> None:
        n = len(self.ensemble.models) if self.ensemble is not None else max(len(self.settings.models), 2)

        def done(settings: ChatSettings | None) -> None:
            if settings is not None:
                self.apply_settings(settings)

        self.push_screen(SettingsScreen(self.settings, n), done)
