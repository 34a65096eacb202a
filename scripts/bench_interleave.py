"""What switching between models costs the drafter: its one-token decodes after a pause.

In `make bench`, SAFE's drafter decodes exactly as many tokens in as many calls as the drafter
alone (GenerationStats counts them), yet its decode time is about 10 % higher. This script finds
where that time goes, on real models:

1. Real `tiny` replies to the benchmark's GSM8K questions, beside the drafter alone: the mean
   time of the drafter's calls made right after a verifier pass, and of its other calls.
2. The drafter decoding alone, one token at a time, back to back, against the same decodes
   with a pause after every `--every` tokens: each verifier scoring `--batch` new tokens, or a
   sleep as long as that pass took, so the numbers tell the work done in between from the time
   spent away.

Left out: changing anything in the engine; this only measures.

    .venv/bin/python scripts/bench_interleave.py [--questions 3] [--tokens 60] [--every 6] [--batch 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import mean

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_speed import DATA, PROMPT  # noqa: E402  (the same questions and prompt as make bench)
from safe_local.api import Ensemble  # noqa: E402
from safe_local.engine import Engine, GenerationConfig  # noqa: E402

TEXT = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. " * 12).encode()


class CallLog:
    """Times every evaluate call of the loaded models (index 0 is the drafter), in order."""

    def __init__(self, models: list) -> None:
        self.calls: list[tuple[int, float]] = []
        for i, model in enumerate(models):
            model.evaluate = self._timed(i, model.evaluate)

    def _timed(self, index: int, evaluate):
        def timed(target, positions):
            t0 = time.perf_counter()
            try:
                return evaluate(target, positions)
            finally:
                self.calls.append((index, time.perf_counter() - t0))
        return timed

    def drafter_split(self) -> tuple[list[float], list[float]]:
        """The drafter's call times: right after another model's call, and the rest."""
        after, rest, other_ran = [], [], False
        for index, seconds in self.calls:
            if index:
                other_ran = True
                continue
            (after if other_ran else rest).append(seconds)
            other_ran = False
        return after, rest


def replies(ens: Ensemble, log: CallLog, questions: list[str]) -> None:
    tiny = GenerationConfig(**(ens.options | {"max_tokens": 256, "chunk": "auto"}))
    alone = GenerationConfig(method="single", max_tokens=256)
    engines = {"drafter alone": (Engine(ens.models[:1]), alone), "tiny": (Engine(ens.models), tiny)}
    print("| question | run | drafter calls | ms per call | calls right after a verifier pass | "
          "ms per such call | ms per other call |\n|---|---|---:|---:|---:|---:|---:|")
    for qi, question in enumerate(questions):
        messages = [{"role": "user", "content": PROMPT.format(question=question)}]
        for label, (engine, config) in engines.items():
            for m in ens.models:
                m.reset()
            log.calls.clear()
            engine.generate(messages, config)
            after, rest = log.drafter_split()
            every = after + rest
            print(f"| {qi} | {label} | {len(every)} | {1000 * mean(every):.1f} | {len(after)} | "
                  f"{1000 * mean(after) if after else float('nan'):.1f} | {1000 * mean(rest):.1f} |", flush=True)


def pauses(ens: Ensemble, tokens: int, every: int, batch: int, rounds: int) -> None:
    drafter, verifiers = ens.models[0], ens.models[1:]
    starts = [m.tokenize(TEXT)[:300] for m in ens.models]

    def run(pause: str, sleep_s: float) -> tuple[list[float], float]:
        for m, ids in zip(ens.models, starts):
            m.reset()
            m.evaluate(ids, [len(ids) - 1])
        target, v_targets = list(starts[0]), [list(ids) for ids in starts[1:]]
        times, pass_s = [], []
        for i in range(tokens):
            t0 = time.perf_counter()
            logits = drafter.evaluate(target, [len(target) - 1])[0]
            times.append(time.perf_counter() - t0)
            target.append(int(np.argmax(logits)))
            if i % every != every - 1:
                continue
            t1 = time.perf_counter()
            if pause == "verifiers":
                for k, v in enumerate(verifiers):
                    v_targets[k] += [v_targets[k][-1]] * batch
                    v.evaluate(v_targets[k], [len(v_targets[k]) - 1])
            elif pause == "sleep":
                time.sleep(sleep_s)
            pass_s.append(time.perf_counter() - t1)
        return times, mean(pass_s) if pass_s else 0.0

    print(f"\nThe drafter alone, {tokens} one-token decodes after a 300-token text; a pause after every {every}:\n")
    print("| round | pause | pause length | ms per decode | ms per decode right after a pause | ms per other decode |\n"
          "|---|---|---:|---:|---:|---:|")
    for r in range(rounds):
        pass_s = 0.0
        for pause in ("none", "verifiers", "sleep"):
            times, spent = run(pause, pass_s)
            if pause == "verifiers":
                pass_s = spent
            t = 1000 * np.array(times)
            after, rest = t[every::every], np.delete(t, np.arange(every, len(t), every))
            what = {"none": "none (back to back)", "verifiers": f"each verifier scores {batch} new tokens",
                    "sleep": "sleep as long as the verifiers' pass"}[pause]
            print(f"| {r} | {what} | {1000 * spent:.0f} ms | {t.mean():.1f} | {after.mean():.1f} | {rest.mean():.1f} |",
                  flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=3, help="benchmark questions to answer with tiny (0: skip)")
    ap.add_argument("--tokens", type=int, default=60, help="drafter decodes per pause run")
    ap.add_argument("--every", type=int, default=6, help="pause after this many decodes")
    ap.add_argument("--batch", type=int, default=60, help="new tokens each verifier scores in a pause")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    ens = Ensemble.load()  # the tiny preset: the drafter and its two verifiers
    log = CallLog(ens.models)
    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.questions]
    if questions:
        replies(ens, log, questions)
    pauses(ens, args.tokens, args.every, args.batch, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
