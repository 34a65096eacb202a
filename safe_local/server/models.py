"""Which ensemble a request's `model` names, and the ids `GET /v1/models` offers.

The rule (`ModelIds.resolve` is the only place a client's `model` is read):
- no id (absent, null or empty) is the ensemble the server was started with;
- otherwise the id must be, character for character, one of the ids `GET /v1/models` lists at
  that moment (a preset whose models are all here, a model on this machine, the server's own
  ensemble), or a comma-separated list of listed single-model ids, drafter first;
- the models loaded are the ones the listing names, by the listing's own spellings: the client's
  string never reaches a file system call, so no id (`..`, `%2e%2e`, backslashes, NUL, absolute
  paths, Unicode look-alikes) can open a file the operator did not offer, and before loading,
  each model's file is checked to be the file the listing found (safe_local.server.loaded).
File paths come only from the operator (`--models PATH`); the listing names such a model by its
file name, and no listing, reply or error says where a model runs (`@host:port`) or which
directory it is in. Left out: loading (safe_local.server.loaded) and generation options other
than a preset's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safe_local.errors import SafeLocalError
from safe_local.placement import model_name
from safe_local.server.errors import ApiError
from safe_local.store import list_local, load_catalog, local_presets, resolve_model, select_ensemble

# Longer ids are refused before anything compares them; the longest real id is a few
# comma-separated Hub file names.
MAX_ID = 1000


@dataclass(frozen=True)
class Choice:
    """What a model id means: its id, model specs (drafter first) and the preset's options.

    `files` is, per spec, the file the listing found for it, or None for a model of the server's
    own ensemble, which the operator named: what loading must find again.
    """

    id: str
    specs: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    files: tuple[Path | None, ...] = ()

    @property
    def names(self) -> list[str]:
        """The models' names as clients see them: no placement, no directory."""
        return [public_name(spec) for spec in self.specs]


def public_name(spec: str) -> str:
    """A model's name for clients: a spec without its `@host:port`; of a path from the operator's
    file system (absolute, `~`, `.`), the file's stem. Names as typed (`owner/repo/FILE.gguf`) stay."""
    name = model_name(spec)
    return Path(name).stem if name.startswith(("/", "~", ".")) or Path(name).is_absolute() else name


def default_choice(models: list[str] | None, preset: str | None) -> Choice:
    """The server's own ensemble, from --models or --preset (default: the default preset)."""
    specs, options = select_ensemble(models, preset)
    name = preset or (",".join(map(public_name, specs)) if models else load_catalog().default_preset)
    return Choice(name, tuple(specs), options, (None,) * len(specs))


class ModelIds:
    def __init__(self, default: Choice):
        self.default = default
        self.created = int(time.time())

    def resolve(self, model_id: str | None) -> Choice:
        """The Choice a request's `model` names, by the rule in this module's docstring; ApiError 404
        for every other id. What it returns holds only the listing's specs, never the client's text."""
        if not model_id or model_id == self.default.id:
            return self.default
        if len(model_id) <= MAX_ID:
            listed = self._listed()
            if model_id in listed:
                return listed[model_id]
            parts = [part.strip(" ") for part in model_id.split(",")]
            singles = [listed.get(part) for part in parts]
            if len(parts) > 1 and all(c is not None and len(c.specs) == 1 for c in singles):
                chosen = [c for c in singles if c is not None]
                return Choice(",".join(parts), tuple(c.specs[0] for c in chosen), files=tuple(c.files[0] for c in chosen))
        missing = _not_downloaded(model_id)
        if missing:
            raise ModelNotDownloaded(404, f"{missing} not downloaded on this server: its operator can run: "
                                f"safe-local pull {missing}", param="model", code="model_not_found")
        shown = repr(model_id[:60]) + ("..." if len(model_id) > 60 else "")
        raise ApiError(404, f"unknown model {shown}: use an id from GET /v1/models (a preset, a local model or a "
                       "comma-separated list of local models, drafter first)", param="model", code="model_not_found")

    def choices(self) -> list[Choice]:
        """What `listing` offers, as Choices, in its order."""
        return list(self._listed().values())

    def listing(self) -> list[dict[str, Any]]:
        """Presets whose models are all here, then every local model, then the server's own ensemble."""
        return [{"id": choice.id, "object": "model", "created": self.created, "owned_by": "safe-local",
                 "models": choice.names} for choice in self._listed().values()]

    def _listed(self) -> dict[str, Choice]:
        local = list_local()
        listed = {p.name: Choice(p.name, p.specs, p.options, p.files) for p in local_presets(local)}
        for model in local:
            listed.setdefault(model.name, Choice(model.name, (model.name,), files=(model.file,)))
        listed.setdefault(self.default.id, self.default)
        return listed


class ModelNotDownloaded(ApiError):
    """A 404 for models the catalog knows but this machine lacks (the operator can pull them)."""


def _not_downloaded(model_id: str) -> str:
    """The catalog's names of an id whose every part is a known model not on this machine, else ""."""
    catalog = load_catalog()
    missing = [part for part in model_id[:MAX_ID].split(",") if part.strip(" ") in catalog.models]
    if missing and len(missing) == len(model_id.split(",")):
        return " ".join(part.strip(" ") for part in missing)
    return ""


def check_files(choice: Choice) -> None:
    """ApiError 404 unless each model of a client's choice resolves to the file the listing found.

    Resolution reads the local caches by name; this catches the one way a listed name could
    still mean another file (a name that also exists as a path under the server's directory).
    """
    for spec, file in zip(choice.specs, choice.files, strict=True):
        if file is None:
            continue
        try:
            found = resolve_model(model_name(spec))
        except SafeLocalError:
            found = None
        if found is None or Path(found).resolve() != Path(file).resolve():
            raise ApiError(404, f"model {public_name(spec)!r} is no longer available here: see GET /v1/models",
                           param="model", code="model_not_found")
