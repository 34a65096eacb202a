"""Will an ensemble fit in RAM? Estimate each model's memory from its header and compare.

Per model, at the requested context: the weights (the file size: llama.cpp maps the file and
touches every page while decoding), the KV cache (layers x context x KV heads x (key + value
length) x 2 bytes for f16, counting every layer as full attention, so sliding-window models
are over-estimated), and the compute buffers: llama.cpp reserves room for a whole micro-batch
of logits but only touches the rows the engine asks for (a draft chunk at a time), so 64 rows
of logits plus a fixed margin for activations are counted. (Three offline-size models at a
4096 context: estimated 1.4 GB, measured peak RSS 1.3 GB.) Available memory is MemAvailable
from /proc/meminfo (page cache holding the model files counts as available, so a second load
is not refused), else the OS's count of free pages.

Left out: GPU offload (all of it is counted as RAM), other processes' future growth, and
what to load instead (the message suggests it; the caller decides).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from safe_local.errors import SafeLocalError
from safe_local.store.gguf_info import GGUFInfo

__all__ = ["MemoryEstimate", "available_memory", "check_fits", "estimate_memory", "format_bytes"]

LOGIT_ROWS = 64  # logits rows touched at once: a draft chunk, with room to spare
BUFFER_MARGIN = 64 * 1024 * 1024
KV_BYTES = 2  # f16 cache entries


@dataclass(frozen=True)
class MemoryEstimate:
    name: str
    weights: int
    kv_cache: int
    buffers: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.buffers


def estimate_memory(name: str, info: GGUFInfo, n_ctx: int) -> MemoryEstimate:
    """Bytes one model needs when loaded with an n_ctx-token context."""
    per_token = info.block_count * info.head_count_kv * (info.key_length + info.value_length) * KV_BYTES
    return MemoryEstimate(
        name=name,
        weights=info.file_size,
        kv_cache=per_token * n_ctx,
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
    kv = sum(e.kv_cache for e in estimates)
    hints = [f"a smaller quantization or model instead of {biggest.name}"]
    if len(estimates) > 2:
        hints.append("fewer models")
    if n_ctx > 512 and kv * 4 >= need:  # the KV cache is a good part of it
        hints.append(f"a shorter context (--ctx {max(512, n_ctx // 2)})")
    suggestion = hints[0] if len(hints) == 1 else ", ".join(hints[:-1]) + ", or " + hints[-1]
    parts = ", ".join(f"{e.name} {format_bytes(e.total)}" for e in estimates)
    raise SafeLocalError(
        f"the ensemble needs about {format_bytes(need)} of RAM ({parts}; context {n_ctx}) but only "
        f"{format_bytes(available)} is available: use {suggestion}"
    )
