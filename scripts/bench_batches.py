"""Batch cost of each offline model as loaded, and of SmolLM2's packaged Q4_1 beside its Q8_0.

SAFE's verifiers score a chunk (2-16 tokens) at a time, then catch up in one larger batch, so
what a verifier costs is its time for small batches, not its single-token decode speed. For
every batch size this decodes that many tokens after a 300-token history (random ids: the cost
does not depend on the text) and reports the best of --repeats, in ms and per token, with
SmolLM2's packaged file beside the converted one in the same run (ratios, since the machine is
shared). Why SmolLM2 is converted: safe_local/backend/requantize.py.

    .venv/bin/python scripts/bench_batches.py [--sizes 1,4,8,16,64,400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

from safe_local.backend import LlamaModel, LoadOptions
from safe_local.offline_models import install_all, packaged_path

HISTORY = 300


def batch_ms(model: LlamaModel, tokens: list[int], n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        model.evaluate(tokens[:HISTORY], [HISTORY - 1])  # back to the same 300-token cache
        t0 = time.perf_counter()
        model.evaluate(tokens[: HISTORY + n], [HISTORY + n - 1])
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,8,16,64,400")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    files = dict(install_all())
    files["smollm2-135m as packaged (Q4_1)"] = packaged_path("smollm2-135m")
    tokens = np.random.default_rng(0).integers(1000, 5000, size=HISTORY + max(sizes)).tolist()
    options = LoadOptions(n_ctx=HISTORY + max(sizes) + 8)
    models = {label: LlamaModel(path, options=options) for label, path in files.items()}
    times = {label: {} for label in models}
    for n in sizes:  # sizes outer, models inner: load from other processes hits every model alike
        for label, model in models.items():
            times[label][n] = batch_ms(model, tokens, n, args.repeats if n < 100 else max(1, args.repeats // 2))
    print(f"# Batch cost — {platform.processor() or platform.machine()}, 2 threads per model, "
          f"after {HISTORY} tokens, best of {args.repeats}\n")
    print("| model | " + " | ".join(f"{n} tok" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for label, row in times.items():
        print(f"| {label} | " + " | ".join(f"{row[n]:.1f} ms ({row[n] / n:.2f}/tok)" for n in sizes) + " |")
    q80, q41 = times["smollm2-135m"], times["smollm2-135m as packaged (Q4_1)"]
    print("\nSmolLM2 as Q8_0 / as Q4_1: " + ", ".join(f"{n} tok {q80[n] / q41[n]:.2f}×" for n in sizes))
    for model in models.values():
        model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
