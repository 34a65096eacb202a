"""What a cheaper output layer would save a verifier, and what it would cost its distribution.

SAFE asks a verifier for a logits row at every position it cannot settle otherwise, and each row
is a pass over the model's output matrix: for Gemma 3 270M (tied embeddings, 262,144 x 640 in
Q8_0, 178 MB of its 253 MB) that is most of what a verify batch costs. This script writes the
model again with only its token-embedding / output tensor in each format of --types (the other
tensors keep their type, so llama.cpp's quantizer copies them unchanged), then reports per file:

- the cost of a verify batch of --batch tokens after a 300-token history, with 1..--batch logit
  rows, best of --repeats (random ids: the cost does not depend on the text);
- how far its next-token distributions move from the packaged file's on a fixed GSM8K answer,
  every position scored in one batch: mean L1 and KL (nats), argmax agreement, top-10 overlap.
  The first row is the packaged file scored in chunks of --batch tokens instead: llama.cpp's own
  batch-shape noise, the yardstick SAFE_SPEC gives (a change well inside it is harmless).

Left out: deciding anything. A file that moves the distributions beyond that noise changes the
ensemble's votes, so it is a different model, whatever it saves (docs/benchmarks.md).

    .venv/bin/python scripts/bench_output_quant.py [--model gemma3-270m] [--types q8_0,q5_0,q4_0]
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import sys
import tempfile
import time
from pathlib import Path

import gguf
import llama_cpp
import numpy as np

from safe_local.backend import LlamaModel, LoadOptions, llama_log
from safe_local.core import softmax, top_indices
from safe_local.offline_models import install_all

HISTORY = 300
TYPES = {"q8_0": llama_cpp.GGML_TYPE_Q8_0, "q5_0": llama_cpp.GGML_TYPE_Q5_0, "q4_0": llama_cpp.GGML_TYPE_Q4_0}
TEXT = (  # Gemma's turn format around a GSM8K question and a worked answer, then plain prose
    b"<start_of_turn>user\nJanet's ducks lay 16 eggs per day. She eats three for breakfast every morning "
    b"and bakes muffins for her friends every day with four. She sells the remainder at the farmers' "
    b"market daily for $2 per fresh duck egg. How much in dollars does she make every day at the "
    b"farmers' market?<end_of_turn>\n<start_of_turn>model\nJanet's ducks lay 16 eggs per day. She eats "
    b"3 for breakfast and uses 4 for muffins, so she uses 3 + 4 = 7 eggs. That leaves 16 - 7 = 9 eggs. "
    b"She sells each egg for $2, so she makes 9 * 2 = $18 every day at the farmers' market. Therefore, "
    b"the answer is 18. The Eiffel Tower is in Paris, the capital of France. Water boils at 100 degrees "
    b"Celsius at sea level.\n"
)
SKIP = 20  # positions scored from here on: the first few carry no context worth comparing


def with_output_type(source: Path, target: Path, ggml_type: int) -> None:
    """Write `source` again with its token-embedding and output tensors in `ggml_type`."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(gguf.GGUFReader(source).fields["general.file_type"].contents())
    params.allow_requantize = True
    params.token_embedding_type = ggml_type
    params.output_tensor_type = ggml_type
    params.nthread = 2
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama.cpp could not write {target}")


def row_costs(model: LlamaModel, batch: int, repeats: int) -> list[float]:
    """ms for a `batch`-token verify pass asking for the last 1..batch rows, best of `repeats`."""
    tokens = np.random.default_rng(0).integers(1000, 5000, size=HISTORY + batch).tolist()
    costs = []
    for rows in range(1, batch + 1):
        best = float("inf")
        for _ in range(repeats):
            model.evaluate(tokens[:HISTORY], [HISTORY - 1])
            t0 = time.perf_counter()
            model.evaluate(tokens, list(range(HISTORY + batch - rows, HISTORY + batch)))
            best = min(best, time.perf_counter() - t0)
        costs.append(best * 1e3)
    return costs


def distributions(model: LlamaModel, chunk: int | None) -> np.ndarray:
    """Next-token distributions at every position of TEXT from SKIP on, in one batch or in chunks."""
    tokens = model.tokenize(TEXT, special=True)
    if chunk is None:
        return softmax(model.evaluate(tokens, range(SKIP, len(tokens))))
    rows = []
    for start in range(SKIP, len(tokens), chunk):
        end = min(start + chunk, len(tokens))
        model.evaluate(tokens[:start], [start - 1])
        rows.append(model.evaluate(tokens[:end], range(start, end)))
    return softmax(np.concatenate(rows))


def shift(ref: np.ndarray, p: np.ndarray) -> str:
    l1 = np.abs(p - ref).sum(axis=-1).mean()
    kl = (ref * (np.log(ref + 1e-30) - np.log(p + 1e-30))).sum(axis=-1).mean()
    agree = (p.argmax(axis=-1) == ref.argmax(axis=-1)).mean()
    top = np.mean([len(set(top_indices(r, 10)) & set(top_indices(q, 10))) for r, q in zip(ref, p)])
    return f"{l1:.3f} | {kl:.4f} | {agree:.1%} | {top:.2f}/10"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--types", default="q8_0,q5_0,q4_0", help=f"comma list of {', '.join(TYPES)}")
    ap.add_argument("--batch", type=int, default=6, help="verify batch size (SAFE's chunks: 2-16)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    llama_log.install()
    source = install_all()[args.model]
    options = LoadOptions(n_ctx=HISTORY + 256)
    with tempfile.TemporaryDirectory(dir=source.parent, prefix=".output-quant-") as tmp:
        files = {"packaged": source}
        for name in args.types.split(","):
            files[f"output as {name}"] = Path(tmp) / f"{name}.gguf"
            with_output_type(source, files[f"output as {name}"], TYPES[name])
        results = {}
        for label, path in files.items():
            model = LlamaModel(path, options=options)
            results[label] = (path.stat().st_size, row_costs(model, args.batch, args.repeats),
                              distributions(model, None),
                              distributions(model, args.batch) if label == "packaged" else None)
            model.close()
    ref = results["packaged"][2]
    print(f"# {args.model}: output layer formats — {platform.processor() or platform.machine()}, "
          f"2 threads, {args.batch}-token verify batch after {HISTORY} tokens, best of {args.repeats}\n")
    print("| file | MB | " + " | ".join(f"{r} row{'s' * (r > 1)}" for r in range(1, args.batch + 1))
          + " | L1 | KL | same argmax | top-10 overlap |")
    print("|---|---:|" + "---:|" * args.batch + "---:|---:|---:|---:|")
    _, _, _, chunked = results["packaged"]
    print(f"| packaged, scored in chunks of {args.batch} (batch-shape noise) | | " + " | " * (args.batch - 1)
          + f" | {shift(ref, chunked)} |")
    for label, (size, costs, dist, _) in results.items():
        print(f"| {label} | {size / 1e6:.0f} | " + " | ".join(f"{c:.1f}" for c in costs) + f" | {shift(ref, dist)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
