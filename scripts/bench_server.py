"""Overhead of the server: tokens/s through `safe-local serve` against the Python API, same prompts.

One process loads the `tiny` preset with the Python API; a `safe-local serve --preset tiny`
process serves the same models. For each of the first GSM8K test questions (the paper's math
prompt, greedy, up to --max-tokens tokens) both generate the same reply (the script checks it is
the same text), the API by `Ensemble.generate`, the server by a streamed chat completion read
to its end by the official `openai` client. Time is wall time as a caller waits for it,
prompt prefill included; the two alternate which goes first per question, and only one of them
runs at a time, so load from other processes hits them alike. Reported: tokens/s of each, the
median over questions of the server's speed relative to the API's (target, issue 15: the
server within 5 %), and the share of the server's wall time spent outside the engine (HTTP,
JSON, the worker thread's hand-off; the engine's own time comes from the reply's `safe`
object), which load on the machine hardly changes.

    .venv/bin/python scripts/bench_server.py [--limit 8] [--max-tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import date
from functools import partial
from pathlib import Path

import openai

from safe_local.api import Ensemble

DATA = Path(__file__).parent / "data" / "gsm8k_test_first10.jsonl"
PROMPT = "{question} Please reason step by step, and put your final answer within \\boxed{{}}."


def serve() -> tuple[subprocess.Popen, str]:
    """A `safe-local serve --preset tiny` on a free port, and its base URL once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "safe_local", "serve", "--preset", "tiny", "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if match := re.search(r"at (http://\S+/v1)", line):
            return process, match[1]
    raise SystemExit(f"safe-local serve exited with {process.wait()}")


def through_server(client: openai.OpenAI, messages: list[dict], max_tokens: int) -> tuple[str, int, float, float]:
    """Text, tokens, wall seconds, and the seconds the engine itself took."""
    start = time.perf_counter()
    text, tokens, engine_s = [], 0, 0.0
    for chunk in client.chat.completions.create(model="tiny", messages=messages, max_tokens=max_tokens, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            engine_s = (chunk.model_extra.get("safe") or {}).get("seconds", engine_s)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return "".join(text), tokens, time.perf_counter() - start, engine_s


def through_api(ens: Ensemble, messages: list[dict], max_tokens: int) -> tuple[str, int, float]:
    start = time.perf_counter()
    result = ens.generate(messages, max_tokens=max_tokens)
    return result.text, result.stats.tokens, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.limit]

    process, url = serve()
    rows = []
    try:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
        with Ensemble.load(preset="tiny") as ens:
            for i, question in enumerate(questions):
                messages = [{"role": "user", "content": PROMPT.format(question=question)}]
                runs = [("api", partial(through_api, ens, messages, args.max_tokens)),
                        ("server", partial(through_server, client, messages, args.max_tokens))]
                done = {name: run() for name, run in (runs if i % 2 == 0 else runs[::-1])}
                (api_text, tokens, api_s), (server_text, server_tokens, server_s, engine_s) = done["api"], done["server"]
                if (server_text, server_tokens) != (api_text, tokens):
                    raise SystemExit(f"question {i + 1}: the server's reply differs from the API's")
                rows.append({"question": i + 1, "tokens": tokens, "api_s": api_s, "server_s": server_s,
                             "server_engine_s": engine_s, "ratio": api_s / server_s})
                print(f"{i + 1:2d}  {tokens:4d} tokens  API {tokens / api_s:6.2f} tok/s  "
                      f"server {tokens / server_s:6.2f} tok/s  server/API {api_s / server_s:.3f}  "
                      f"outside the engine {server_s - engine_s:.3f} s", flush=True)
    finally:
        process.terminate()
        process.wait()

    tokens = sum(r["tokens"] for r in rows)
    api_speed, server_speed = tokens / sum(r["api_s"] for r in rows), tokens / sum(r["server_s"] for r in rows)
    median = statistics.median(r["ratio"] for r in rows)
    outside = sum(r["server_s"] - r["server_engine_s"] for r in rows) / sum(r["server_s"] for r in rows)
    print(f"# Server overhead — {date.today()} — {platform.machine()}, {len(rows)} questions, "
          f"max {args.max_tokens} tokens, tiny preset")
    print(f"API {api_speed:.2f} tok/s, server {server_speed:.2f} tok/s; server/API: "
          f"{server_speed / api_speed:.3f} overall, median per question {median:.3f} "
          f"(target >= 0.95: {'OK' if median >= 0.95 else 'MISSED'}); {outside:.1%} of the server's time "
          "outside the engine")
    if args.json:
        args.json.write_text(json.dumps({
            "date": str(date.today()), "machine": platform.processor() or platform.machine(),
            "max_tokens": args.max_tokens, "rows": rows, "api_tokens_per_s": api_speed,
            "server_tokens_per_s": server_speed, "median_ratio": median, "outside_engine_share": outside},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
