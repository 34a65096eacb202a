"""The `safe-local` command line.

`safe-local run PROMPT` streams a reply from an ensemble (PROMPT `-` reads stdin); `--json`
prints one JSON object with the text and statistics instead. The CLI only parses arguments
and calls the Python API (Ensemble / GenerationResult); it holds no generation logic.
Errors a user can fix print one line on stderr and exit with status 2; Ctrl+C stops the reply,
keeps what was generated and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Sequence

from safe_local.engine import BASES, METHODS, GenerationConfig
from safe_local.errors import SafeLocalError
from safe_local.events import Done, TextDelta

PROG = "safe-local"
_DEFAULTS = GenerationConfig()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage dump is not a one-line error
        raise SafeLocalError(f"{message} (see: {self.prog} --help)")


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Local LLM ensembling with SAFE on llama.cpp.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show llama.cpp and engine logs on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="answer one prompt with an ensemble")
    run.add_argument("prompt", help="the prompt; - reads it from stdin")
    run.add_argument("--models", "-m", help="comma-separated short names or .gguf paths, drafter first "
                     "(default: qwen2.5-coder-0.5b,gemma3-270m,smollm2-135m)")
    run.add_argument("--method", choices=METHODS, default=_DEFAULTS.method)
    run.add_argument("--base", choices=BASES, default=_DEFAULTS.base, help="base ensemble of safe")
    run.add_argument("--chunk", type=int, default=_DEFAULTS.chunk, help="tokens drafted per cycle (n)")
    run.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens)
    run.add_argument("--temperature", type=float, default=_DEFAULTS.temperature, help="0 = greedy")
    run.add_argument("--top-p", type=float, default=_DEFAULTS.top_p)
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--weights", type=_floats, default=None, help="per-model weights, drafter first, e.g. 2,1,1")
    run.add_argument("--sharpening", choices=("none", "heuristic", "geometric"), default=_DEFAULTS.sharpening)
    run.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    run.add_argument("--system", help="system prompt")
    run.add_argument("--ctx", type=int, default=4096, help="context length per model")
    run.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    run.add_argument("--json", action="store_true", help="print one JSON object with text and statistics")
    return parser


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise SafeLocalError("the prompt is empty: give a prompt argument or pipe text into '-'")
    return text


def _run(args: argparse.Namespace) -> int:
    from safe_local.api import Ensemble, make_messages  # loads llama_cpp; keep `--help` fast

    prompt = _read_prompt(args.prompt)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    config = GenerationConfig(
        method=args.method, base=args.base, chunk=args.chunk, max_tokens=args.max_tokens,
        temperature=args.temperature, top_p=args.top_p, seed=args.seed, weights=args.weights,
        sharpening=args.sharpening, stop=tuple(args.stop),
    )
    config.validate(len(models) if models else 3)  # fail on bad flags before loading anything
    cancel = threading.Event()
    with Ensemble.load(models, n_ctx=args.ctx, n_threads=args.threads) as ens:
        config.validate(len(ens.models))
        result = None
        # The first Ctrl+C asks the engine to stop at its next step (caches stay consistent and
        # the partial reply is kept); a second one interrupts at once.
        previous = signal.signal(signal.SIGINT, lambda *_: (cancel.set(), signal.signal(signal.SIGINT, previous)))
        try:
            for event in ens.engine.stream(make_messages(prompt, args.system), config, cancel):
                if isinstance(event, TextDelta) and not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, Done):
                    result = event.result
        finally:
            signal.signal(signal.SIGINT, previous)
        assert result is not None
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            sys.stdout.write("\n")
            s = result.stats
            print(
                f"[{result.method}{'/' + result.base if result.base else ''} · {s.tokens} tokens · "
                f"{s.tokens_per_s:.1f} tok/s · ensembled {s.ensembled} (E/T {s.ensemble_rate:.1%}) · "
                f"stopped: {result.stop_reason}{' — ' + result.message if result.message else ''}]",
                file=sys.stderr,
            )
        return 130 if result.stop_reason == "cancelled" else 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        level = logging.DEBUG if args.verbose else logging.CRITICAL
        logging.getLogger("safe_local.llama_cpp").setLevel(level)
        if args.command == "run":
            return _run(args)
        raise SafeLocalError(f"unknown command {args.command}")
    except SafeLocalError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
