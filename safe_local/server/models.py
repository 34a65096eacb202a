"""Which ensemble a request's `model` names, and the ids `GET /v1/models` offers.

An id is a preset (`tiny`), one model (`smollm2-135m`) or a comma-separated model list, drafter
first (`qwen2.5-coder-0.5b,smollm2-135m`); no id is the ensemble the server was started with.
Ids are resolved from the local caches only. File paths are not taken from clients: a client
could otherwise make the server open any file it can read (start the server with `--models PATH`
instead). Left out: loading (safe_local.server.loaded) and generation options other than a
preset's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from safe_local.errors import SafeLocalError
from safe_local.placement import model_name
from safe_local.model_paths import resolve_model
from safe_local.server.errors import ApiError
from safe_local.store import is_local, list_local, load_catalog, parse_hub_spec, select_ensemble


@dataclass(frozen=True)
class Choice:
    """What a model id means: its id, model specs (drafter first) and the preset's options."""

    id: str
    specs: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def default_choice(models: list[str] | None, preset: str | None) -> Choice:
    """The server's own ensemble, from --models or --preset (default: the default preset)."""
    specs, options = select_ensemble(models, preset)
    # placements stay out of the id: clients never learn where the (unauthenticated) RPC servers are
    name = preset or (",".join(map(model_name, specs)) if models else load_catalog().default_preset)
    return Choice(name, tuple(specs), options)


class ModelIds:
    def __init__(self, default: Choice):
        self.default = default
        self.created = int(time.time())

    def resolve(self, model_id: str | None) -> Choice:
        """The Choice for an id, every model found on this machine; ApiError 404 otherwise."""
        if not model_id or model_id == self.default.id:
            return self.default
        catalog = load_catalog()
        if model_id in catalog.presets:
            specs, options = select_ensemble(None, model_id)
        else:
            specs, options = [s.strip() for s in model_id.split(",")], {}
            for spec in specs:
                if not (catalog.is_offline(spec) or (not spec.startswith(("/", "~", ".")) and _hub_spec(spec, catalog))):
                    raise ApiError(404, f"unknown model {spec!r}: use an id from GET /v1/models (a preset, a local model "
                                   "or a comma-separated list of them, drafter first)", param="model", code="model_not_found")
        for spec in specs:
            try:
                resolve_model(spec)
            except SafeLocalError as e:
                raise ApiError(404, str(e), param="model", code="model_not_found") from None
        return Choice(model_id, tuple(specs), options)

    def listing(self) -> list[dict[str, Any]]:
        """Presets whose models are all here, then every local model, then the server's own list."""
        presets = [(p.name, list(p.models)) for p in load_catalog().presets.values() if all(map(is_local, p.models))]
        entries = presets + [(m.name, [m.name]) for m in list_local()]
        if self.default.id not in {name for name, _ in entries}:
            entries.append((self.default.id, list(self.default.specs)))
        return [{"id": name, "object": "model", "created": self.created, "owned_by": "safe-local", "models": models}
                for name, models in entries]


def _hub_spec(spec: str, catalog: Any) -> bool:
    try:
        return parse_hub_spec(spec, catalog) is not None
    except SafeLocalError:  # a catalog name with a quantization it lacks: resolve_model says so
        return True
