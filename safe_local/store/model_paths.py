"""Turn what a user typed for a model into the path of a GGUF file, without the network.

A spec is one of:
- an offline model's short name (``qwen2.5-coder-0.5b``, ``gemma3-270m``, ``smollm2-135m``;
  assembled and verified on demand by safe_local.offline_models; ``qwen2.5-coder-1.5b`` once
  ``safe-local pull`` has fetched it, else NotDownloaded), unless the user's config defines a
  Hub model of that name: the catalog says which, and the user's entry wins;
- a Hub model from the catalog, ``NAME[:QUANT]`` (``llama3.2-1b``, ``qwen2.5-1.5b:Q8_0``), or
  ``owner/repo[:QUANT]`` / ``owner/repo/FILE.gguf``: found in the shared Hugging Face cache
  (safe_local.store.hub); when it is not there, the error names the ``safe-local pull``
  command that fetches it;
- a path to an existing ``.gguf`` file (``~`` is expanded; the file must start with the GGUF
  magic). Anything starting with ``/``, ``~`` or ``.``, or existing on disk, is a path; other
  specs with a separator or ending in ``.gguf`` are paths unless they name a Hub file.
Everything else is a SafeLocalError with one line saying what to use instead.
Left out: downloading (``safe-local pull`` / safe_local.store.pull does that).
"""

from __future__ import annotations

import os
from pathlib import Path

from safe_local.errors import SafeLocalError
from safe_local.offline_models import NotPulled, offline_model_path
from safe_local.placement import split_spec
from safe_local.store.catalog import load_catalog, looks_like_path, parse_hub_spec
from safe_local.store.hub import cached_path

__all__ = ["NotDownloaded", "resolve_model"]


class NotDownloaded(SafeLocalError):
    """Models that are known but not downloaded yet (`specs` says which): Hub models, pulled offline models."""

    def __init__(self, specs: list[str]):
        verb = "is" if len(specs) == 1 else "are"
        super().__init__(f"{', '.join(specs)} {verb} not downloaded yet: run: safe-local pull {' '.join(specs)}")
        self.specs = specs

GGUF_MAGIC = b"GGUF"


def _is_explicit_path(spec: str) -> bool:
    return spec.startswith(("/", "~", ".")) or os.path.isabs(spec) or Path(spec).expanduser().exists()


def resolve_model(spec: str) -> Path:
    """Path of the GGUF file for a model name, a Hub spec or a path to a .gguf file.

    A placement (`name@host:port`) says where the model runs, not which file: it is ignored here.
    """
    spec = split_spec(spec.strip())[0]
    catalog = load_catalog()
    if catalog.is_offline(spec):
        try:
            return offline_model_path(spec)
        except NotPulled:
            raise NotDownloaded([spec]) from None
    ref = None if _is_explicit_path(spec) else parse_hub_spec(spec, catalog)
    if ref is not None:
        found = cached_path(ref)
        if found is None:
            raise NotDownloaded([spec])
        return found
    path = Path(spec).expanduser()
    if not (looks_like_path(spec) or (spec and path.exists())):
        raise SafeLocalError(
            f"unknown model {spec!r}: use one of {', '.join(catalog.models)}, "
            "owner/repo[:QUANT] from the Hub or a path to a .gguf file"
        )
    if not path.exists():
        raise SafeLocalError(f"model file not found: {path}")
    if path.is_dir():
        raise SafeLocalError(f"{path} is a directory: give the path of a .gguf file inside it")
    if path.suffix.lower() != ".gguf":
        raise SafeLocalError(f"{path} is not a .gguf file: give a GGUF model file or a model name (see: safe-local ls)")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise SafeLocalError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise SafeLocalError(f"{path} is not a GGUF file (its header is not 'GGUF')")
    return path.resolve()
