"""The app's model handling: choosing an ensemble, pulling what is missing, loading it.

`EnsembleControl` is the layer of the chat app above ChatBase (it uses its settings, history and
status line). Loading runs in a thread worker under `ensemble_lock`, which a reply also holds
while it streams: an ensemble is never swapped or closed under a running reply, and a load asked
for meanwhile waits for the reply to end. An ensemble the app was handed is never closed.
"""

from __future__ import annotations

from textual import work

from safe_local import Ensemble, SafeLocalError
from tui import catalog
from tui.base import ChatBase, wanted
from tui.dialogs import Confirm
from tui.picker import Choice, PickerScreen
from tui.pull import PullScreen
from tui.settings import ChatSettings

MEMORY_ERROR = "Not enough memory for these models: choose smaller or fewer ones, or a shorter context."


class EnsembleControl(ChatBase):
    def action_models(self) -> None:
        if self.busy():
            return
        try:
            choices = self.fixed_choices if self.fixed_choices is not None else catalog.choices()
            models = self.settings.models
            default = catalog.default_preset() if not models else None
        except SafeLocalError as e:
            self.notify(str(e), severity="error")
            return
        current = self.settings.preset or (models[0] if len(models) == 1 else default)
        self.push_screen(PickerScreen(choices, current), self._picked)

    def _picked(self, choice: Choice | None) -> None:
        if choice is None:
            return
        settings = catalog.apply_choice(self.settings, choice)
        try:
            missing = catalog.missing(settings)
        except SafeLocalError as e:
            self.notify(str(e), severity="error")
            return

        def use(ok: bool | None = True) -> None:
            if ok:
                self.apply_settings(settings)
                self.ensure_loaded_for(settings)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.push_screen(PullScreen(missing, catalog.pull), use)

        if missing:
            self.push_screen(Confirm(f"Not downloaded yet: {', '.join(missing)}. Download now?", yes="Download"), confirmed)
        else:
            use()

    def ensure_loaded_for(self, settings: ChatSettings) -> None:
        if wanted(settings) != self.loaded_for:
            self.load_ensemble(settings)

    @work(thread=True, exclusive=True, group="load")
    def load_ensemble(self, settings: ChatSettings) -> None:
        """Load (or swap to) the ensemble `settings` asks for; errors become notifications."""
        try:
            with self.ensemble_lock:
                self.load_locked(settings)
        except SafeLocalError as e:
            self.call_from_thread(self.notify, str(e), title="Cannot load models", severity="error", timeout=10)
        except MemoryError:
            self.call_from_thread(self.notify, MEMORY_ERROR, title="Cannot load models", severity="error", timeout=10)

    def load_locked(self, settings: ChatSettings) -> Ensemble:
        """The ensemble for `settings`, loaded first if needed (worker thread, ensemble_lock held)."""
        if self.ensemble is not None and self.loaded_for == wanted(settings) and not self.ensemble.lost:
            return self.ensemble
        if self.ensemble is not None and self.owns_ensemble and self.ensemble.remote:
            # an RPC server serves one client at a time: the old ensemble must let go of it first
            self.ensemble.close()
            self.ensemble, self.loaded_for = None, None
        self._set_loading(True)
        try:
            ensemble = Ensemble.load(settings.models or None, preset=settings.preset)
        finally:
            self._set_loading(False)
        old, owned = self.ensemble, self.owns_ensemble
        self.ensemble, self.owns_ensemble, self.loaded_for = ensemble, True, wanted(settings)
        if old is not None and owned:
            old.close()
        self.call_from_thread(self.refresh_status)
        return ensemble

    def _set_loading(self, loading: bool) -> None:
        self.loading = loading
        self.call_from_thread(self.refresh_status)
