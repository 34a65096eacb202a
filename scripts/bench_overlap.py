"""Would overlapping the drafter with the verifiers pay on this machine? (issue 13, item 4)

SAFE's cycle is: the drafter decodes a chunk token by token, then each verifier scores it in
one batch. Overlapping them (verifiers scoring chunk k while the drafter drafts chunk k+1) only
helps if running the two at once, with the cores split between them, beats running them one
after the other with every core each. This measures exactly that, on the offline models, with
the engine's own backend calls and shapes (5 one-token drafter decodes; a 6-token verifier
batch with a logits row per position for each verifier), interleaved over rounds:

- sequential: drafter then verifiers, each model with all threads;
- overlapped: drafter in one thread and the verifiers in another, at the same time, the
  threads split between them (llama.cpp releases the GIL while it decodes).

It reports cycles per second for both and their ratio. The upper bound on what overlap can win
is this ratio; the real engine would also throw away the overlapped work whenever an ensemble
cuts the chunk.

    .venv/bin/python scripts/bench_overlap.py [--cycles 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

from safe_local.backend import LlamaModel, LoadOptions
from safe_local.offline_models import offline_model_path

NAMES = ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")
TEXT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
CHUNK = 5


def load(threads: int) -> list[LlamaModel]:
    return [LlamaModel(offline_model_path(n), n, LoadOptions(n_ctx=2048, n_threads=threads)) for n in NAMES]


def tokens_for(model: LlamaModel, n: int) -> list[int]:
    ids: list[int] = []
    while len(ids) < n:
        ids += model.tokenize(TEXT.encode())
    return ids[:n]


def drafter_cycles(model: LlamaModel, tokens: list[int], start: int, cycles: int) -> None:
    pos = start
    for _ in range(cycles):
        for _ in range(CHUNK):
            model.evaluate(tokens[: pos + 1], [pos])
            pos += 1


def verifier_cycles(models: list[LlamaModel], tokens: list[list[int]], start: int, cycles: int) -> None:
    pos = start
    for _ in range(cycles):
        for model, ids in zip(models, tokens):
            model.evaluate(ids[: pos + CHUNK + 1], list(range(pos, pos + CHUNK + 1)))
        pos += CHUNK


def prepare(models: list[LlamaModel], tokens: list[list[int]], prompt: int) -> None:
    for model, ids in zip(models, tokens):
        model.reset()
        model.evaluate(ids[:prompt], [prompt - 1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        print("one core: nothing to overlap", file=sys.stderr)
        return 1
    full, half = load(cores), load(cores // 2)
    prompt, total = 64, 64 + (args.cycles + 1) * (CHUNK + 1)
    tokens = [tokens_for(m, total) for m in full]
    seq, ovl = [], []
    for r in range(args.rounds):
        prepare(full, tokens, prompt)
        t0 = time.perf_counter()
        for c in range(args.cycles):  # one cycle at a time: draft, then verify, as the engine does now
            drafter_cycles(full[0], tokens[0], prompt + c * CHUNK, 1)
            verifier_cycles(full[1:], tokens[1:], prompt + c * CHUNK, 1)
        seq.append(args.cycles / (time.perf_counter() - t0))

        prepare(half, tokens, prompt)
        t0 = time.perf_counter()
        side = threading.Thread(target=verifier_cycles, args=(half[1:], tokens[1:], prompt, args.cycles))
        side.start()
        drafter_cycles(half[0], tokens[0], prompt, args.cycles)
        side.join()
        ovl.append(args.cycles / (time.perf_counter() - t0))
        print(f"round {r + 1}: sequential {seq[-1]:.2f} cycles/s ({cores} threads each), "
              f"overlapped {ovl[-1]:.2f} cycles/s ({cores // 2} thread(s) each)", file=sys.stderr)
    s, o = statistics.median(seq), statistics.median(ovl)
    print(f"sequential {s:.2f} cycles/s, overlapped {o:.2f} cycles/s: overlapped / sequential = {o / s:.2f}× "
          f"(median of {args.rounds} rounds, {args.cycles} cycles of {CHUNK} drafted tokens, {cores} cores)")
    for m in full + half:
        m.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
