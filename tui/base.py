"""The chat app's shared state and the views every part of it updates.

`Reply` is one reply being generated, as its worker thread and the UI share it. `ChatBase` holds
what the app's parts share: the history, the open conversation and its settings, the loaded
ensemble and its lock, the reply being generated and the figures of the last one, and whether
the votes are shown. It refreshes the status line, the sidebar and the log, and says when the app is busy.
The parts build on it in one line, each importing only the one below: ChatBase →
EnsembleControl (tui.ensembles) → ReplyControl (tui.replies) → ChatApp (tui.app), so no lower
module imports the app. Layout, key actions and screens are the app's; nothing here composes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from textual.app import App
from textual.containers import VerticalScroll
from textual.reactive import reactive

from safe_local import Ensemble
from safe_local.history import Conversation, History
from tui import catalog, keys
from tui.picker import Choice
from tui.records import ReplyFigures
from tui.settings import ChatSettings, unknown_keys
from tui.sidebar import ConversationList
from tui.status import StatusInfo, StatusLine
from tui.turns import AssistantTurn, UserTurn


@dataclass
class Reply:
    """One reply being generated: what the worker and the UI share about it."""

    turn: AssistantTurn
    conversation_id: int
    user_message_id: int
    prompt: str
    messages: list[dict]
    settings: ChatSettings
    created_conversation: bool  # this send created the conversation (undo it if nothing came)
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)  # the worker thread is done
    stopped: bool = False  # ended early on screen (Esc or error): later output is dropped
    detached: bool = False  # the app is exiting: the worker must not call into the UI
    withdrawn: bool = False  # it produced nothing and was taken back
    ended: bool = False  # the UI has its final result or failure

    @property
    def active(self) -> bool:
        """Still streaming into the chat."""
        return not (self.ended or self.stopped or self.finished.is_set())


def wanted(settings: ChatSettings) -> tuple:
    """What identifies the ensemble settings ask for (an empty model list: the preset or default)."""
    return (settings.preset, tuple(settings.models))


class ChatBase(App[None]):
    show_ensembled: reactive[bool] = reactive(False)

    def __init__(
        self,
        *,
        ensemble: Ensemble | None = None,
        models: list[str] | None = None,
        preset: str | None = None,
        history: History | str | Path | None = None,
        config: Mapping[str, Any] | None = None,
        choices: list[Choice] | None = None,
    ) -> None:
        super().__init__()
        config = dict(config or {})
        self.keymap, key_warnings = keys.load_keymap(config.get("keybindings", {}))
        chat_table = config.get("chat", {})
        self.config_warnings = key_warnings + [f"[chat] {k}: not a chat setting, ignored" for k in unknown_keys(chat_table)]
        self.chat_table = chat_table
        self.defaults = catalog.new_chat_settings(chat_table, preset=preset, models=models or (), handed=ensemble)
        self.history = history if isinstance(history, History) else History(history)
        self._owns_history = not isinstance(history, History)
        self.fixed_choices = choices
        # The loaded ensemble and the (preset, models) it was loaded for; None: the startup default.
        self.ensemble = ensemble
        self.owns_ensemble = False
        self.loaded_for: tuple | None = wanted(self.defaults) if ensemble else None
        self.ensemble_lock = threading.Lock()  # held while loading and while a reply streams
        self.loading = False
        self.conversation: Conversation | None = None
        self.settings = replace(self.defaults)
        self.reply: Reply | None = None
        self.figures: ReplyFigures | None = None

    def busy(self) -> bool:
        """True (and the user is told so) while a reply streams."""
        if self.reply is not None and self.reply.active:
            self.notify("A reply is being generated: press Esc to stop it first.", severity="warning")
            return True
        return False

    def refresh_status(self) -> None:
        ens = self.ensemble
        if self.loading:  # say what is being loaded
            names = tuple(self.settings.models) or (self.settings.preset or "default ensemble",)
        else:
            names = tuple(ens.names) if ens is not None else ()
        self.query_one(StatusLine).show(StatusInfo(
            models=names,
            loading=self.loading,
            method=self.settings.method_label,
            generating=self.reply is not None and self.reply.active,
            figures=self.figures,
            n_ctx=min(m.n_ctx for m in ens.models) if ens is not None and not self.loading else 0,
        ))
        self.sub_title = self.conversation.title if self.conversation else "New chat"
        self.refresh_bindings()

    def refresh_sidebar(self) -> None:
        self.query_one(ConversationList).show(
            self.history.list_conversations(), self.conversation.id if self.conversation else None
        )

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#log", VerticalScroll)

    def clear_log(self) -> None:
        self.log_view.query(".turn").remove()
        self.query_one("#welcome").display = True

    def mount_turns(self, *turns: UserTurn | AssistantTurn) -> None:
        self.query_one("#welcome").display = False
        self.log_view.mount(*turns)
        self.log_view.scroll_end(animate=False)

    def watch_show_ensembled(self, show: bool) -> None:
        for turn in self.query(AssistantTurn):
            turn.show_votes = show

    def apply_settings(self, settings: ChatSettings) -> None:
        self.settings = settings
        if self.conversation is not None:
            self.history.set_settings(self.conversation.id, settings.to_dict())
        self.refresh_status()

    def model_names(self) -> str:
        return ", ".join(self.ensemble.names) if self.ensemble is not None else ""
