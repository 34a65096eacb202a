"""Measure the chat's sampling defaults: loops and distinct-n, greedy against sampling settings.

Each fixed open-ended prompt (stories, explanations, lists, a letter, a poem; issue 17's dragon
first) is answered by the `tiny` preset's drafter alone (`single`) and by the `tiny` ensemble
(SAFE, its preset options) under greedy decoding and a few candidate sampling settings, with
and without repetition penalties; sampling runs once per seed. Replies stop at a loop as the
chat's do (stop_loops). Per setting the report gives the share of replies that ended in a loop
(safe_local.loop_guard), distinct-1/2/3 (unique word n-grams over all word n-grams of a reply,
averaged), reply length, and speed as a ratio to greedy `single` in the same run (the machine
is shared, so absolute speeds say little). Settings run interleaved per prompt, so load from
other processes hits them alike; every `single` reply comes before the ensemble's.

    .venv/bin/python scripts/chat_defaults.py [--threads 1] [--seeds 1,2] [--max-tokens 384] [--report]

Writes docs/chat-defaults.md (table, machine, date, command; text from a "## Choice" heading on
is kept) and docs/chat-defaults.jsonl (one line per reply; a rerun reuses the lines it finds).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from safe_local.api import Ensemble
from safe_local.cpu_features import model_name
from safe_local.loop_guard import is_looping

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROMPTS = [
    "Write a very long story about a dragon who learns to bake bread.",
    "Tell me a story about a robot who wants to become a gardener.",
    "Explain how a refrigerator keeps food cold.",
    "List ten ideas for a child's birthday party, with a sentence on each.",
    "Write a letter to a friend about your summer holiday by the sea.",
    "Explain to a beginner why the sky is blue and sunsets are red.",
    "Describe a busy market in a small town on a Saturday morning.",
    "Write a poem about autumn leaves.",
]
SAMPLE = {"temperature": 0.8, "top_p": 0.95, "min_p": 0.05}  # llama.cpp's defaults, penalties aside
SETTINGS = {
    "greedy": {"temperature": 0.0},
    "sample": SAMPLE,
    "sample + repeat 1.1": {**SAMPLE, "repeat_penalty": 1.1},
    "sample + DRY 0.8": {**SAMPLE, "dry_multiplier": 0.8},
}
MODES = {"single": {"method": "single"}, "tiny": {}}  # tiny: the preset's own method and weights


def distinct(text: str, n: int) -> float:
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def measure(ens: Ensemble, prompt: str, options: dict, max_tokens: int) -> dict:
    t0 = time.perf_counter()
    r = ens.generate(prompt, max_tokens=max_tokens, stop_loops=True, **options)
    seconds = time.perf_counter() - t0
    return {
        "tokens": r.stats.tokens, "seconds": seconds, "stop_reason": r.stop_reason,
        "looped": r.stop_reason == "loop" or is_looping(r.text),
        **{f"distinct{n}": distinct(r.text, n) for n in (1, 2, 3)},
        "text": r.text,
    }


def stored(results: Path, n_prompts: int, seeds: list[int]) -> list[dict]:
    """The replies already in the results file for these prompts and seeds."""
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    return [d for d in rows if d["prompt"] < n_prompts and (d["seed"] is None or d["seed"] in seeds)]


def run_all(ens: Ensemble, prompts: list[str], seeds: list[int], max_tokens: int, results: Path) -> list[dict]:
    done = stored(results, len(prompts), seeds)
    have = {(d["setting"], d["mode"], d["prompt"], d["seed"]) for d in done}
    with results.open("a") as out:
        for mode, method in MODES.items():  # the drafter alone first: it is the quicker half
            for p, prompt in enumerate(prompts):
                for setting, sampling in SETTINGS.items():
                    for seed in seeds if sampling["temperature"] > 0 else [None]:
                        if (setting, mode, p, seed) in have:
                            continue
                        row = {"setting": setting, "mode": mode, "prompt": p, "seed": seed,
                               **measure(ens, prompt, {**method, **sampling, "seed": seed}, max_tokens)}
                        print(f"{p} {setting:22} {mode:6} seed={seed} {row['tokens']:4} tok "
                              f"{row['tokens'] / row['seconds']:5.1f} tok/s {row['stop_reason']}", file=sys.stderr)
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
                        out.flush()
                        done.append(row)
    return done


def table(rows: list[dict]) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["setting"], r["mode"]].append(r)
    speed = {k: sum(r["tokens"] for r in g) / sum(r["seconds"] for r in g) for k, g in groups.items()}
    reference = speed.get(("greedy", "single"), 1.0)
    lines = ["| setting | models | replies | ended in a loop | distinct-1 | distinct-2 | distinct-3 | mean tokens | speed vs greedy single |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for setting in SETTINGS:
        for mode in MODES:
            g = groups.get((setting, mode))
            if not g:
                continue
            mean = {key: sum(r[key] for r in g) / len(g) for key in ("distinct1", "distinct2", "distinct3", "tokens")}
            loops = sum(r["looped"] for r in g)
            lines.append(f"| {setting} | {mode} | {len(g)} | {loops} ({loops / len(g):.0%}) | {mean['distinct1']:.3f} | "
                         f"{mean['distinct2']:.3f} | {mean['distinct3']:.3f} | {mean['tokens']:.0f} | "
                         f"{speed[setting, mode] / reference:.2f}x |")
    return "\n".join(lines)


def write_doc(path: Path, rows: list[dict], args: argparse.Namespace, command: str) -> None:
    kept = ""
    if path.exists():
        text = path.read_text()
        kept = text[text.index("## Choice"):] if "## Choice" in text else ""
    settings = "\n".join(f"- **{name}**: " + ", ".join(f"{k} {v}" for k, v in s.items()) for name, s in SETTINGS.items())
    prompts = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(PROMPTS[: args.prompts]))
    doc = f"""# Chat sampling defaults, measured

Issue 17: greedy replies loop ("He was a very proud and brave dragon, and he was a very proud and
brave dragon..."). This measures, on {args.prompts} fixed open-ended prompts, how often a reply
ends in a loop (safe_local.loop_guard; replies stop at a loop, as in the chat) and how varied
its words are (distinct-n: unique word n-grams / word n-grams, per reply, averaged), for greedy
decoding and candidate sampling settings, for the `tiny` preset's drafter alone (`single`,
Qwen2.5-Coder-0.5B) and the `tiny` ensemble (SAFE, weights 4,1,1). Sampling settings ran once
per seed ({', '.join(map(str, args.seeds))}); up to {args.max_tokens} tokens per reply.
Speed is relative to greedy `single` in the same run (the machine is shared with other work).

{table(rows)}

Settings (penalties at their llama.cpp defaults where not named: repeat window 64 tokens, DRY base
1.75, allowed length 2, sequence breakers newline, colon, quote, asterisk, over the whole context):

{settings}

Prompts:

{prompts}

Machine: {model_name()}, {platform.system()} {platform.machine()}, threads per model:
{args.threads or 'the backend default'}. Date: {date.today().isoformat()}. Command:

    {command}

Every reply is in `{args.results.relative_to(DOCS.parent)}`.

"""
    path.write_text(doc + kept)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="threads per model (default: the backend's)")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--prompts", type=int, default=len(PROMPTS), help=f"the first N prompts (default all {len(PROMPTS)})")
    ap.add_argument("--out", type=Path, default=DOCS / "chat-defaults.md")
    ap.add_argument("--results", type=Path, default=DOCS / "chat-defaults.jsonl")
    ap.add_argument("--report", action="store_true", help="only write the report from the replies already measured")
    args = ap.parse_args()
    # The command that measures (a --report run only rewrites the document from its replies).
    command = ".venv/bin/python scripts/chat_defaults.py " + shlex.join(a for a in sys.argv[1:] if a != "--report")
    if args.report:
        rows = stored(args.results, args.prompts, args.seeds)
    else:
        with Ensemble.load(preset="tiny", n_threads=args.threads) as ens:
            rows = run_all(ens, PROMPTS[: args.prompts], args.seeds, args.max_tokens, args.results)
    write_doc(args.out, rows, args, command.strip())
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
