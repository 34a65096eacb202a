"""The child side of `safe-local doctor`: llama.cpp's build facts, and a tiny real decode.

Run as `python -m safe_local.backend.decode_probe info` or `... decode MODEL.gguf [--batches
64,6,1]`; it prints one JSON object on stdout. It runs in a child process on purpose: a llama.cpp
built for instructions this CPU does not execute dies with SIGILL inside a matmul kernel, and
only a parent that survives can turn that into a diagnosis (safe_local.diagnostics does).

The decode feeds batches of the given sizes one after another (the matmul kernels llama.cpp
picks differ with the batch size: one token takes the vector path, several tokens the tiled
one, and a prompt-sized batch the AMX/llamafile kernels where they are built), then decodes
the same tokens again as one batch and compares the logits: each incremental row's top token
must be among the reference row's best five, and rows may not differ by more than a fraction of
their own spread. That catches kernels that run but compute garbage, not only ones that crash.

Left out on purpose: generation, sampling, chat templates; anything about safe-local's engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

# Batch sizes take different kernels (and quantize activations differently), so rows differ a
# little: on the offline models by at most 0.8 % (Qwen), 2.2 % (SmolLM2) and 3.3 % (Gemma) of
# the row's spread (doctor prints the figure). A broken kernel gives differences of order 1.
MAX_RELATIVE_DIFF = 0.15
TEXT = ("The quick brown fox jumps over the lazy dog. 17 × 23 = 391. def f(x): return x ** 2 "
        "Paris, Tokyo and Lima are capitals; rivers: Danube, Rhine, Loire. ")


def _info() -> dict:
    import llama_cpp

    from safe_local.backend.llama import LoadOptions, _init_backend

    _init_backend()
    return {"llama_cpp_python": llama_cpp.__version__, "threads": LoadOptions().threads(),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "rpc": bool(llama_cpp.llama_supports_rpc())}


def _decode(path: str, batches: Sequence[int], threads: int | None) -> dict:
    import numpy as np

    from safe_local.backend.llama import LlamaModel, LoadOptions

    total = sum(batches)
    started = time.perf_counter()
    with LlamaModel(path, options=LoadOptions(n_ctx=max(256, total + 8), n_threads=threads)) as model:
        load_seconds = time.perf_counter() - started
        tokens: list[int] = []
        while len(tokens) < total:
            tokens += model.tokenize(TEXT.encode())
        tokens = tokens[:total]
        rows, timings, pos = [], [], 0
        for n in batches:
            t0 = time.perf_counter()
            rows.append(model.evaluate(tokens[: pos + n], list(range(pos, pos + n))))
            timings.append({"tokens": n, "seconds": round(time.perf_counter() - t0, 4)})
            pos += n
        model.reset()
        reference = model.evaluate(tokens, list(range(total)))
    incremental = np.concatenate(rows)
    finite = bool(np.isfinite(incremental).all() and np.isfinite(reference).all())
    spread = np.maximum(reference.max(axis=1) - reference.min(axis=1), 1e-6)
    relative = float((np.abs(incremental - reference).max(axis=1) / spread).max()) if finite else float("inf")
    top5 = np.argsort(reference, axis=1)[:, -5:]
    agree = bool((top5 == incremental.argmax(axis=1)[:, None]).any(axis=1).all())
    return {"model": model.name, "load_seconds": round(load_seconds, 3), "batches": timings,
            "max_relative_diff": relative, "top_token_agrees": agree,
            "ok": finite and agree and relative <= MAX_RELATIVE_DIFF}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safe_local.backend.decode_probe")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("info")
    decode = sub.add_parser("decode")
    decode.add_argument("path")
    decode.add_argument("--batches", default="64,6,1")
    decode.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.what == "info":
        result = _info()
    else:
        result = _decode(args.path, [int(b) for b in args.batches.split(",")], args.threads)
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
