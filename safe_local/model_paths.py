"""Turn what a user typed for a model into the path of a GGUF file.

A spec is either a short name from the offline catalog (``qwen2.5-coder-0.5b``, ``gemma3-270m``,
``smollm2-135m``; assembled and verified on demand by safe_local.offline_models) or a path to an
existing ``.gguf`` file (``~`` is expanded; the file must start with the GGUF magic).
Everything else is a SafeLocalError with one line saying what to use instead.
Left out for now: Hub models and a model store (a later issue adds them here).
"""

from __future__ import annotations

import os
from pathlib import Path

from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_names, offline_model_path

__all__ = ["resolve_model"]

GGUF_MAGIC = b"GGUF"


def _looks_like_path(spec: str) -> bool:
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in spec for s in seps) or spec.startswith(("~", ".")) or spec.lower().endswith(".gguf")


def resolve_model(spec: str) -> Path:
    """Path of the GGUF file for a short model name or a path to a .gguf file."""
    spec = spec.strip()
    names = offline_model_names()
    if spec in names:
        return offline_model_path(spec)
    path = Path(spec).expanduser()
    if not (_looks_like_path(spec) or (spec and path.exists())):
        raise SafeLocalError(
            f"unknown model {spec!r}: use one of {', '.join(names)} or a path to a .gguf file"
        )
    if not path.exists():
        raise SafeLocalError(f"model file not found: {path}")
    if path.is_dir():
        raise SafeLocalError(f"{path} is a directory: give the path of a .gguf file inside it")
    if path.suffix.lower() != ".gguf":
        raise SafeLocalError(f"{path} is not a .gguf file: give a GGUF model file or one of {', '.join(names)}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise SafeLocalError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise SafeLocalError(f"{path} is not a GGUF file (its header is not 'GGUF')")
    return path.resolve()
