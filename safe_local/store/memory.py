"""Will an ensemble fit in RAM? Estimate each model's memory from its header and compare.

Per model, at the requested context: the weights (the file size: llama.cpp maps the file and
touches every page while decoding), the KV cache (layers x context x KV heads x (key + value
length) x 2 bytes for f16, counting every layer as full attention, so sliding-window models
are over-estimated), and the compute buffers: llama.cpp reserves room for a whole micro-batch
of logits but only touches the rows the engine asks for (a draft chunk at a time), so 64 rows
of logits plus a fixed margin for activations are counted. (Three offline-size models at a
4096 context: estimated 1.4 GB, measured peak RSS 1.3 GB.) Available memory is MemAvailable
from /proc/meminfo (page cache holding the model files counts as available, so a second load
is not refused), else the OS's count of free pages. When the models do not fit, the error
suggests the longest context at which they would by the same estimate, or says that not even
a 512-token one would.

Left out: GPU offload (all of it is counted as RAM), other processes' future growth, and
what to load instead (the message suggests it; the caller decides).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from safe_local.errors import SafeLocalError
from safe_local.store.gguf_info import GGUFInfo

__all__ = ["MemoryEstimate", "available_memory", "check_fits", "estimate_memory", "fitting_context", "format_bytes"]

LOGIT_ROWS = 64  # logits rows touched at once: a draft chunk, with room to spare
BUFFER_MARGIN = 64 * 1024 * 1024
KV_BYTES = 2  # f16 cache entries
CTX_STEP = 256  # a suggested context is a multiple of this: llama.cpp may pad a context up to one
MIN_CTX = 512  # no shorter context is suggested: a chat template and a prompt hardly fit in less


@dataclass(frozen=True)
class MemoryEstimate:
    name: str
    weights: int
    kv_per_token: int
    n_ctx: int
    buffers: int

    @property
    def kv_cache(self) -> int:
        return self.kv_per_token * self.n_ctx

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.buffers


def estimate_memory(name: str, info: GGUFInfo, n_ctx: int) -> MemoryEstimate:
    """Bytes one model needs when loaded with an n_ctx-token context.

    The backend loads a model with at most its training context, so that is all it costs.
    """
    return MemoryEstimate(
        name=name,
        weights=info.file_size,
        kv_per_token=info.block_count * info.head_count_kv * (info.key_length + info.value_length) * KV_BYTES,
        n_ctx=min(n_ctx, info.context_length or n_ctx),
        buffers=info.vocab_size * LOGIT_ROWS * 4 + BUFFER_MARGIN,
    )


def available_memory() -> int | None:
    """Bytes of RAM available to a new allocation now; None when the OS does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """Decimal units, as disks and the Hub count them: 1.2 GB."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"


def check_fits(estimates: Sequence[MemoryEstimate], n_ctx: int, available: int | None = None) -> None:
    """SafeLocalError with a suggestion when the models together need more than is available."""
    if available is None:
        available = available_memory()
    need = sum(e.total for e in estimates)
    if available is None or need <= available:
        return
    biggest = max(estimates, key=lambda e: e.total)
    hints = [f"a smaller quantization or model instead of {biggest.name}"]
    if len(estimates) > 2:
        hints.append("fewer models")
    fitting = fitting_context(estimates, available)
    if fitting is not None:
        hints.append(f"a shorter context (--ctx {fitting})")
    suggestion = hints[0] if len(hints) == 1 else ", ".join(hints[:-1]) + ", or " + hints[-1]
    if fitting is None and n_ctx > MIN_CTX:
        suggestion += f" (a shorter context is not enough: even --ctx {MIN_CTX} would not fit)"
    parts = ", ".join(f"{e.name} {format_bytes(e.total)}" for e in estimates)
    raise SafeLocalError(
        f"the ensemble needs about {format_bytes(need)} of RAM ({parts}; context {n_ctx}) but only "
        f"{format_bytes(available)} is available: use {suggestion}"
    )


def fitting_context(estimates: Sequence[MemoryEstimate], available: int) -> int | None:
    """The longest context (a multiple of CTX_STEP, at least MIN_CTX) at which the models fit.

    None when even MIN_CTX does not fit. Only the KV cache grows with the context.
    """
    fixed = sum(e.weights + e.buffers for e in estimates)
    per_token = sum(e.kv_per_token for e in estimates)
    if per_token == 0 or available <= fixed:
        return None
    context = (available - fixed) // per_token // CTX_STEP * CTX_STEP
    return context if context >= MIN_CTX else None
