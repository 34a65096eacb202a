"""Checks before an ensemble is loaded: every header is readable and usable, and it all fits.

Reads each model's GGUF header (safe_local.store.gguf_info), refuses recurrent and hybrid
architectures (llama.cpp cannot roll their state back, and SAFE's verification step needs
that), notes models that share a tokenizer (allowed: logged at INFO), and compares the
estimated memory of the whole ensemble at the requested context with the RAM available
(safe_local.store.memory). Left out: loading anything; the backend does that afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Collection, Sequence

from safe_local.errors import SafeLocalError
from safe_local.store.gguf_info import GGUFInfo, read_gguf_info, tokenizer_twins
from safe_local.store.memory import check_fits, estimate_memory

__all__ = ["check_ensemble"]

log = logging.getLogger(__name__)


def check_ensemble(models: Sequence[tuple[str, Path]], n_ctx: int, *, available: int | None = None,
                   remote: Collection[str] = ()) -> list[GGUFInfo]:
    """Header facts of each (name, path); SafeLocalError if one cannot be used or they do not fit.

    ``available`` overrides the RAM reading (bytes), for callers that budget memory themselves.
    Models named in ``remote`` run on RPC servers: their weights and KV cache live there, so only
    their logits buffers count here (the input embedding llama.cpp keeps local is not counted).
    """
    infos = [read_gguf_info(path) for _, path in models]
    for (name, _), info in zip(models, infos):
        if info.recurrent:
            raise SafeLocalError(
                f"{name} is a recurrent/hybrid model ({info.architecture}): SAFE must roll back drafted "
                "tokens, which llama.cpp cannot do for it; use a transformer model instead"
            )
    for name, twins in tokenizer_twins([(name, info) for (name, _), info in zip(models, infos)]).items():
        log.info("%s has the same tokenizer as %s", name, ", ".join(twins))
    estimates = [estimate_memory(name, info, n_ctx) for (name, _), info in zip(models, infos)]
    local = [replace(e, weights=0, kv_per_token=0) if e.name in remote else e for e in estimates]
    check_fits(local, n_ctx, available)
    return infos
