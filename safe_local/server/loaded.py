"""The one ensemble the server keeps loaded, and switching it for another on request.

A switch checks the new ensemble's memory with the loaded one counted as freed (it is closed
first), so a request for models that do not fit is refused while the current ensemble stays
loaded and keeps serving. A model placed on an RPC server that cannot be reached is told to the
client by name only ("a remote model is unreachable"); the address goes to the server's log.
Not thread-safe on purpose: only the request holding the server's turn (safe_local.server.turns)
touches it. Left out: which ids mean which models (safe_local.server.models).
"""

from __future__ import annotations

import logging

from safe_local.api import Ensemble
from safe_local.errors import SafeLocalError
from safe_local.placement import place
from safe_local.server.errors import ApiError, unreachable
from safe_local.server.models import Choice, check_files, public_name
from safe_local.store import available_memory, check_ensemble, estimate_memory, resolve_model

log = logging.getLogger(__name__)


class LoadedEnsemble:
    def __init__(self, n_ctx: int, n_threads: int | None = None):
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self.specs: tuple[str, ...] | None = None
        self.ensemble: Ensemble | None = None
        self.loading = False  # a switch is under way (what /health tells probes)
        self._bytes = 0  # the loaded ensemble's estimated memory, freed by a switch

    @property
    def names(self) -> list[str]:
        """The loaded models' names as clients may see them (no placements, no directories)."""
        return [public_name(spec) for spec in self.specs or ()]

    @property
    def memory(self) -> int:
        """The loaded ensemble's estimated memory in bytes (models on RPC servers not counted)."""
        return self._bytes

    def get(self, choice: Choice) -> Ensemble:
        """The ensemble a Choice names, loading it (and closing the current one) if needed."""
        specs = choice.specs
        if self.ensemble is not None and specs == self.specs and not self.ensemble.lost:
            return self.ensemble
        check_files(choice)
        names, endpoints = place(specs)
        self.loading = True
        try:
            named = [(name, resolve_model(name)) for name in names]
            remote = {name for name, endpoint in zip(names, endpoints) if endpoint}
            available = available_memory()
            infos = check_ensemble(named, self.n_ctx, available=None if available is None else available + self._bytes,
                                   remote=remote)
            self.close()
            self.ensemble = Ensemble.load(list(specs), n_ctx=self.n_ctx, n_threads=self.n_threads)
        except SafeLocalError as e:  # too big, unusable, unreachable, or gone since the request named it
            lost = unreachable(e, zip(map(public_name, names), endpoints))
            if lost is not None:
                raise lost from None
            raise ApiError(400, _without_paths(str(e), names), param="model", code="model_not_loadable") from None
        finally:
            self.loading = False
        self.specs = specs
        self._bytes = sum(estimate_memory(name, info, self.n_ctx).total
                          for (name, _), info in zip(named, infos) if name not in remote)
        return self.ensemble

    def close(self) -> None:
        if self.ensemble is not None:
            self.ensemble.close()
        self.ensemble, self.specs, self._bytes = None, None, 0


def _without_paths(message: str, names: list[str]) -> str:
    """A load error for clients: each model's file named by the model instead (the log keeps the path)."""
    for name in names:
        try:
            path = str(resolve_model(name))
        except SafeLocalError:
            continue
        if path in message:
            log.warning("%s", message)
            message = message.replace(path, public_name(name))
    return message
