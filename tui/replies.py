"""Sending a message and streaming the reply into the chat and the history.

`ReplyControl` is the layer of the chat app above EnsembleControl. The composer has already
taken a sent message out of the input; if a reply is still streaming, the text goes back in. A
send stores the user message and an empty assistant message ("generating"), then a thread worker
streams the reply (`stream_reply`) while holding the app's ensemble lock; each batch comes back
through `call_from_thread`, is appended on screen and written to the history, so a kill leaves
the text so far. Esc sets the reply's cancel Event and ends it on screen at once: later output
is dropped, the text is kept as "stopped", or, if there is none, both messages are withdrawn and
the prompt goes back into the input. The next send waits for the stopped reply's thread, since
the engine runs one generation at a time.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from typing import Callable

from textual import work

from safe_local import Ensemble, EnsembleEvent, GenerationResult, SafeLocalError
from tui.base import Reply
from tui.composer import Composer
from tui.ensembles import MEMORY_ERROR, EnsembleControl
from tui.generation import stream_reply
from tui.records import ReplyFigures, reply_meta
from tui.turns import AssistantTurn, UserTurn

TITLE_LENGTH = 40


class ReplyControl(EnsembleControl):
    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        if self.busy():
            event.composer.restore(event.text)
        else:
            self.send(event.text)

    def send(self, text: str) -> None:
        """Store the user's message, show it and start the reply."""
        created = self.conversation is None
        if created:
            title = text.splitlines()[0][:TITLE_LENGTH].strip() or "New chat"
            self.conversation = self.history.create(title, self.settings.to_dict())
        conv = self.conversation
        user = self.history.append(conv.id, "user", text)
        assistant = self.history.append(conv.id, "assistant", "", status="generating")
        messages = [
            {"role": m.role, "content": m.content}
            for m in self.history.messages(conv.id)
            if m.id != assistant.id and m.content and m.status != "error"
        ]
        turn = AssistantTurn(assistant.id, status="generating", models=self.model_names(),
                             show_votes=self.show_ensembled)
        self.mount_turns(UserTurn(text), turn)
        previous = self.reply
        self.reply = Reply(turn, conv.id, user.id, text, messages, replace(self.settings), created)
        if created:
            self.refresh_sidebar()
        self.refresh_status()
        self.generate(self.reply, previous)

    @work(thread=True, group="reply")
    def generate(self, reply: Reply, previous: Reply | None) -> None:
        """The worker: wait for the previous reply's thread, then stream this one."""
        if previous is not None:
            previous.finished.wait()
        flush: Callable[[str, list[EnsembleEvent]], None] = lambda text, events: self._from_worker(  # noqa: E731
            reply, self._on_chunk, reply, text, events
        )
        try:
            with self.ensemble_lock:
                ensemble = self.load_locked(reply.settings)
                result = stream_reply(ensemble, reply.messages, reply.settings.stream_options(),
                                      reply.settings.system, reply.cancel, flush)
            self._from_worker(reply, self._on_done, reply, result)
            self.catch_up(ensemble, reply, result)
        except SafeLocalError as e:
            self._from_worker(reply, self._on_failed, reply, str(e))
        except MemoryError:
            self._from_worker(reply, self._on_failed, reply, MEMORY_ERROR)
        except Exception as e:  # a bug must not take the chat down: say what it was
            self._from_worker(reply, self._on_failed, reply, f"{type(e).__name__}: {e}")
        finally:
            reply.finished.set()

    def catch_up(self, ensemble: Ensemble, reply: Reply, result: GenerationResult) -> None:
        """Worker side, after a SAFE reply: decode it into the lagging verifiers while the user reads."""
        if result.method != "safe" or not result.text:
            return
        with self.ensemble_lock:
            if self.ensemble is not ensemble:
                return  # replaced (and closed) by another choice of models since the reply
            with suppress(SafeLocalError):  # failing only means the next turn decodes it itself
                ensemble.catch_up(reply.messages, result.text, system=reply.settings.system or None)

    def _from_worker(self, reply: Reply, callback: Callable, *args: object) -> None:
        if not reply.detached:
            self.call_from_thread(callback, *args)

    def _on_chunk(self, reply: Reply, text: str, events: list[EnsembleEvent]) -> None:
        if reply.stopped:
            return
        log = self.log_view
        following = log.max_scroll_y - log.scroll_y <= 2  # the user has not scrolled up to read
        reply.turn.append(text, events)
        if following:
            log.scroll_end(animate=False)
        self.history.update_message(reply.turn.message_id, content=reply.turn.text)

    def _on_done(self, reply: Reply, result: GenerationResult) -> None:
        reply.ended = True
        if reply.withdrawn:
            return
        self.figures = ReplyFigures.from_result(result)
        status = "stopped" if reply.stopped or result.stop_reason == "cancelled" else "done"
        reply.turn.models = ", ".join(result.models)  # the models that actually answered
        reply.turn.set_status(status)
        self.store_reply(reply, status, self.figures)
        if result.stop_reason == "context":
            self.notify(result.message or "The context is full.", title="Context full", severity="warning", timeout=10)
        elif result.stop_reason == "loop":
            self.notify("The reply kept repeating itself, so it was ended. To let such replies run on, "
                        "turn off Stop loops in the conversation settings.", title="Loop stopped", timeout=10)
        elif not reply.turn.text and status == "done":
            self.notify("The models ended the reply without any text.", severity="warning")
        self.refresh_status()

    def _on_failed(self, reply: Reply, message: str) -> None:
        reply.ended = True
        self.notify(message, title="Reply failed", severity="error", timeout=10)
        if not reply.stopped:
            self._end_early(reply, "error")

    def _end_early(self, reply: Reply, status: str) -> None:
        """End a reply on screen: keep its text under `status`, or withdraw it if it has none."""
        reply.stopped = True
        if reply.turn.text:
            reply.turn.set_status(status)
            self.store_reply(reply, status)
        else:
            self._withdraw(reply)
        self.refresh_status()

    def store_reply(self, reply: Reply, status: str, figures: ReplyFigures | None = None) -> None:
        self.history.update_message(
            reply.turn.message_id, content=reply.turn.text, status=status,
            meta=reply_meta(reply.turn.events, figures),
        )

    def _withdraw(self, reply: Reply) -> None:
        """Undo a send that produced nothing: remove both messages and give the prompt back."""
        reply.withdrawn = True
        self.history.delete_message(reply.turn.message_id)
        self.history.delete_message(reply.user_message_id)
        if reply.created_conversation:
            self.history.delete(reply.conversation_id)
            self.conversation = None
        turns = list(self.log_view.query(".turn"))
        for widget in turns[-2:]:
            widget.remove()
        self.query_one("#welcome").display = len(turns) <= 2
        composer = self.query_one(Composer)
        if not composer.text.strip():
            composer.restore(reply.prompt)
        composer.focus()
        self.refresh_sidebar()

    def action_stop(self) -> None:
        reply = self.reply
        if reply is not None and reply.active:
            reply.cancel.set()
            self._end_early(reply, "stopped")
