"""What a JSON constraint costs, per method, and what it buys: tokens/s with a JSON schema against
without one on the same prompts, and the share of replies that parse as JSON when asked for JSON
in words only against with `json_object`'s constraint.

For each prompt and method, interleaved (the machine is shared, so ratios are taken within one
run), every model's cache is emptied and three greedy replies of up to --max-tokens are made:
free (the prompt asks for JSON), json_object, and the prompt's JSON schema. Speed is tokens/s of
the constrained replies over that of the free ones. These replies are short and differ in length,
so the prompt's prefill would weigh on that ratio: each reply's time is taken after its first
token (a one-token reply of the same prompt and method, made first, gives that time). The table
also gives the constraint's own share of the constrained replies' time (computing and applying
masks: GenerationStats.constraint_seconds).

    .venv/bin/python scripts/bench_structured.py [--max-tokens 160] [--json out.json]

Target (issue 29): constrained >= 0.85x the unconstrained speed, per method.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

from safe_local.api import Ensemble
from safe_local.engine import GenerationConfig
from safe_local.grammar import Grammar
from safe_local.reply_shape import ReplyShape

NAME = {"type": "string", "maxLength": 20}
PROMPTS = [
    ("Describe a person called Ada, aged 36.", {"name": NAME, "age": {"type": "integer", "minimum": 0, "maximum": 120}}),
    ("Name two or three fruits.", {"fruits": {"type": "array", "items": NAME, "minItems": 2, "maxItems": 3}}),
    ("Give an address in Paris.", {"street": NAME, "city": NAME, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}),
    ("Describe a city.", {"name": NAME, "country": NAME, "population": {"type": "integer", "minimum": 0},
                          "capital": {"type": "boolean"}}),
    ("What is the weather like today?", {"weather": {"enum": ["sunny", "cloudy", "rainy"]},
                                         "celsius": {"type": "number", "minimum": -50, "maximum": 60}}),
    ("Give a book with its author and year.", {"title": NAME, "author": NAME, "year": {"type": "integer"}}),
    ("List two planets with their order from the Sun.", {"planets": {"type": "array", "maxItems": 2, "items": {
        "type": "object", "properties": {"name": NAME, "order": {"type": "integer", "minimum": 1, "maximum": 8}},
        "required": ["name", "order"], "additionalProperties": False}}}),
    ("Rate a film you like.", {"film": NAME, "stars": {"type": "integer", "minimum": 1, "maximum": 5}}),
]
METHODS = {"single": {"method": "single"}, "tiny (safe/gac)": {}, "safe/unite": {"method": "safe", "base": "unite"},
           "unite": {"method": "unite"}, "gac": {"method": "gac"}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ens = Ensemble.load()
    totals = {m: {kind: [0, 0.0, 0, 0.0, 0] for kind in ("free", "json_object", "schema")} for m in METHODS}
    for pi, (question, properties) in enumerate(PROMPTS):
        schema = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
        words = f"{question} Answer only with a JSON object with the keys {', '.join(properties)}."
        grammars = {"free": None, "json_object": Grammar.json_object(), "schema": Grammar.from_json_schema(schema)}
        for method, options in METHODS.items():
            config = GenerationConfig(**(ens.options | options | {"max_tokens": args.max_tokens}))
            for m in ens.models:
                m.reset()
            first = ens.engine.generate([{"role": "user", "content": words}], GenerationConfig(
                **(ens.options | options | {"max_tokens": 1}))).stats.seconds
            for kind, grammar in grammars.items():
                for m in ens.models:
                    m.reset()
                r = ens.engine.generate([{"role": "user", "content": words}], config, None, ReplyShape(grammar))
                row = totals[method][kind]
                row[0] += r.stats.tokens - 1
                row[1] += r.stats.seconds - first
                row[2] += _parses(r.text)
                row[3] += r.stats.constraint_seconds
                row[4] += r.stats.ensembled
                print(f"p{pi} {method} {kind}: {r.stats.tokens} tok {r.stats.seconds:.1f}s parses {_parses(r.text)}",
                      file=sys.stderr)
    print(f"# Structured output — {date.today()} — {platform.processor() or platform.machine()}, "
          f"{len(PROMPTS)} prompts, greedy, up to {args.max_tokens} tokens\n")
    print("| method | free tok/s | schema tok/s | schema / free | json_object / free | constraint share of schema time "
          "| E/T free | E/T schema | parse: free | parse: json_object | parse: schema |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out = {}
    for method, kinds in totals.items():
        speed = {k: v[0] / v[1] for k, v in kinds.items()}
        n = len(PROMPTS)
        print(f"| {method} | {speed['free']:.1f} | {speed['schema']:.1f} | {speed['schema'] / speed['free']:.2f} | "
              f"{speed['json_object'] / speed['free']:.2f} | {kinds['schema'][3] / kinds['schema'][1]:.1%} | "
              f"{kinds['free'][4] / kinds['free'][0]:.3f} | {kinds['schema'][4] / kinds['schema'][0]:.3f} | "
              f"{kinds['free'][2]}/{n} | {kinds['json_object'][2]}/{n} | "
              f"{kinds['schema'][2]}/{n} |")
        out[method] = {k: {"tokens": v[0], "seconds": v[1], "parses": v[2], "constraint_seconds": v[3], "ensembled": v[4]}
                       for k, v in kinds.items()}
    if args.json:
        args.json.write_text(json.dumps({"date": str(date.today()), "max_tokens": args.max_tokens, "methods": out}, indent=2))
    ens.close()
    return 0


def _parses(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


if __name__ == "__main__":
    sys.exit(main())
