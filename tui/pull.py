"""Downloading missing models from the chat: a progress bar per file and a Cancel button.

The pull runs in a thread worker through the `pull(spec, progress=, cancel=)` function it is
given (the model store's), one spec after the other; progress callbacks come from that thread
and reach the bar through `call_from_thread`. Cancel (button or Escape) sets the Event the store
checks. It dismisses with True when every model is there, False when cancelled or failed (the
failure is shown as a notification). Where and how files are stored is the store's business.
"""

from __future__ import annotations

import threading
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar

from safe_local import SafeLocalError

Pull = Callable[..., object]  # store.pull(spec, *, progress, cancel)


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class PullScreen(ModalScreen[bool]):
    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, specs: list[str], pull: Pull) -> None:
        super().__init__()
        self.specs = specs
        self.pull = pull
        self.cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="pull", classes="dialog"):
            yield Label(f"Downloading {len(self.specs)} model(s)", classes="title")
            yield Label("", id="pull-file")
            yield ProgressBar(id="pull-bar", show_eta=True)
            yield Label("", id="pull-bytes")
            yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.download()

    @work(thread=True, exclusive=True)
    def download(self) -> None:
        try:
            for spec in self.specs:
                self.app.call_from_thread(self._start, spec)
                self.pull(spec, progress=lambda done, total: self.app.call_from_thread(self._progress, done, total),
                          cancel=self.cancel)
                if self.cancel.is_set():
                    break
        except (SafeLocalError, OSError) as e:
            if not self.cancel.is_set():  # a cancelled pull raises too; that needs no message
                message = str(e) if isinstance(e, SafeLocalError) else f"{e.strerror or e}"
                self.app.call_from_thread(self.app.notify, message, title="Download failed", severity="error")
            self.app.call_from_thread(self.dismiss, False)
            return
        self.app.call_from_thread(self.dismiss, not self.cancel.is_set())

    def _start(self, spec: str) -> None:
        self.query_one("#pull-file", Label).update(spec)
        self.query_one(ProgressBar).update(total=None, progress=0)

    def _progress(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        self.query_one("#pull-bytes", Label).update(f"{_size(done)} of {_size(total)}" if total else _size(done))

    def action_cancel(self) -> None:
        self.cancel.set()
        self.query_one("#pull-file", Label).update("cancelling…")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_cancel()
