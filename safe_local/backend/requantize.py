"""Rewrite a GGUF file in another quantization with llama.cpp's own quantizer, atomically.

Why: SmolLM2-135M is packaged as Q4_1, a format for which this llama.cpp has neither a
repacked CPU layout nor a llamafile sgemm kernel, so a batch of tokens costs nearly as much
per token as single decodes. SAFE's verifiers score many small batches (a chunk of 2-16
tokens, then a catch-up), so the verifier pays that at every chunk. Converted once to Q8_0,
which those kernels cover, the same model scores a 16-token batch in 60 ms against 96 ms and a
400-token one in 0.87 s against 1.69 s, one token 1.16x slower (AMD EPYC, 2 threads,
scripts/bench_batches.py, docs/benchmarks.md).
Q8_0 holds each Q4_1 weight to within 1/254 of its block's range, far finer than Q4_1's own
1/15 step, so the model barely moves (on 51 positions of a GSM8K text: same argmax at every
one, mean KL 0.011 nat, below the batch-shape noise SAFE_SPEC describes).

Left out: which model to convert and into what (offline.toml's `load_as`), verifying the
source (safe_local.offline_models does), and any format llama.cpp cannot write.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

import llama_cpp

from safe_local.backend import llama_log
from safe_local.errors import SafeLocalError

FTYPES = {"Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}


def requantize(source: Path, target: Path, quant: str, threads: int = 0) -> None:
    """Write `source` quantized as `quant` to `target`; `target` appears only when complete.

    Raises SafeLocalError (one line) if llama.cpp cannot read the source or write the result.
    """
    if quant not in FTYPES:
        raise ValueError(f"cannot convert to {quant!r}: one of {', '.join(FTYPES)}")
    llama_log.install()  # the quantizer logs every tensor; keep that out of the terminal
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[quant]
    params.allow_requantize = True  # the source is already quantized: that is the point
    params.nthread = threads or (os.cpu_count() or 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), tmp.encode(), ctypes.byref(params))
        if status != 0:
            raise SafeLocalError(f"llama.cpp could not convert {source} to {quant} (status {status}); "
                                 f"check free disk space in {target.parent}")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a model file is not private
        os.replace(tmp, target)
        tmp = ""
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
