"""`safe-local run PROMPT`: answer one prompt with an ensemble, streaming or as JSON.

PROMPT `-` reads stdin. `--json` prints one JSON object (text, method, models, drafter,
tokens, ensembled, ensemble_rate, cycles, seconds, tokens_per_s, ...) instead of streaming.
The first Ctrl+C stops the reply at the engine's next step and keeps what was generated
(exit status 130); a second one interrupts at once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from safe_local.errors import SafeLocalError
from safe_local.events import Done, TextDelta
from safe_local.generation_config import BASES, METHODS, SHARPENING, GenerationConfig
from safe_local.placement import split_spec

_DEFAULTS = GenerationConfig()


def float_list(text: str) -> list[float]:
    """argparse type for --weights: comma-separated numbers (shared by the commands that take it)."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


# Said in every --models help: an RPC server has no authentication (docs/models.md, "Models on other machines").
PLACEMENT_HELP = ("; NAME@HOST:PORT runs that model on a llama.cpp RPC server (ggml-rpc-server, `make rpc-server`), "
                  "which has no authentication: loopback or a trusted private network only")


def add_verifier_confidence_arguments(p: argparse.ArgumentParser) -> None:
    """--verifier-confidence and --verifier-beats-drafter (docs/verifier-confidence.md); unset: the preset's."""
    p.add_argument("--verifier-confidence", type=float, metavar="BETA",
                   help="safe: ensemble a position without consensus only where some verifier gives its own "
                   "token at least BETA (CoSD's rule; default 0: always)")
    p.add_argument("--verifier-beats-drafter", action="store_const", const=True, default=None,
                   help="safe: ... and more than the drafter gives its own token")


def model_list(text: str) -> list[str]:
    """argparse type for --models: comma-separated model specs, drafter first (at least one)."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise argparse.ArgumentTypeError(f"'{text}' names no model: give comma-separated names, drafter first")
    for model in models:
        try:
            split_spec(model)
        except SafeLocalError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return models


def _number_or_auto(kind: type, what: str):
    """An argparse type: `auto`, or a number of `kind` (what: how the error names it)."""
    def parse(text: str) -> int | float | str:
        if text.strip().lower() == "auto":
            return "auto"
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what} or auto") from None
    return parse


# argparse types for --chunk (tokens drafted per cycle) and --drafter-gate (a probability).
chunk_length = _number_or_auto(int, "a whole number of tokens")
gate_value = _number_or_auto(float, "a probability (0 < G <= 1)")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="answer one prompt with an ensemble")
    run.add_argument("prompt", help="the prompt; - reads it from stdin")
    run.add_argument("--models", "-m", type=model_list, help="comma-separated model names, owner/repo[:QUANT] or .gguf paths, "
                     "drafter first (default: the preset's models)" + PLACEMENT_HELP)
    run.add_argument("--preset", "-p", help="a named ensemble: its models and generation options "
                     "(tiny, laptop, paper or one from config.toml; default: tiny)")
    # Generation flags default to None so a preset's options apply unless a flag is given.
    run.add_argument("--method", choices=METHODS, help=f"default {_DEFAULTS.method}")
    run.add_argument("--base", choices=BASES, help=f"base ensemble of safe (default {_DEFAULTS.base})")
    run.add_argument("--chunk", type=chunk_length, help=f"tokens drafted per cycle, n, or auto (default {_DEFAULTS.chunk})")
    run.add_argument("--max-tokens", type=int, help=f"default {_DEFAULTS.max_tokens}")
    run.add_argument("--temperature", type=float, help="0 = greedy (the default)")
    run.add_argument("--top-p", type=float, help=f"default {_DEFAULTS.top_p}")
    run.add_argument("--min-p", type=float, help="sampling keeps tokens at least P times as likely as the best (default 0: off)")
    run.add_argument("--repeat-penalty", type=float, help="divide a recently seen token's logit by this (default 1: off)")
    run.add_argument("--repeat-last-n", type=int, help=f"tokens the repeat, presence and frequency penalties look back "
                     f"(-1: all, 0: off; default {_DEFAULTS.repeat_last_n})")
    run.add_argument("--presence-penalty", type=float, help="subtract this from a recently seen token's logit (default 0)")
    run.add_argument("--frequency-penalty", type=float, help="subtract this per recent occurrence (default 0)")
    run.add_argument("--dry-multiplier", type=float, help="DRY: penalize a token that extends a repeat (default 0: off; "
                     "0.8 is usual)")
    run.add_argument("--dry-base", type=float, help=f"DRY penalty growth per repeated token (default {_DEFAULTS.dry_base})")
    run.add_argument("--dry-allowed-length", type=int, help=f"DRY lets repeats this long go (default {_DEFAULTS.dry_allowed_length})")
    run.add_argument("--dry-penalty-last-n", type=int, help="tokens DRY looks back (-1: all, the default; 0: off)")
    run.add_argument("--dry-sequence-breaker", action="append", default=[], metavar="TEXT",
                     help="DRY: a repeat counts back only to this text (repeatable; replaces the default "
                     "newline, colon, quote and asterisk; 'none' for no breakers)")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--weights", type=float_list, default=None, help="per-model weights, drafter first, e.g. 2,1,1")
    run.add_argument("--sharpening", choices=SHARPENING, help=f"default {_DEFAULTS.sharpening}")
    run.add_argument("--drafter-gate", type=gate_value,
                     help="safe: ensemble only where the drafter's probability is below G (1 = always; "
                     "default auto: 0.5 for base gac, as the authors' code, none for base unite)")
    add_verifier_confidence_arguments(run)
    run.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    run.add_argument("--stop-loops", action="store_const", const=True, default=None,
                     help="end the reply once it keeps repeating itself (stop reason: loop)")
    shape = run.add_mutually_exclusive_group()
    shape.add_argument("--json-schema", type=Path, metavar="FILE",
                       help="constrain the reply to JSON valid under this JSON Schema (every model of the ensemble)")
    shape.add_argument("--grammar", type=Path, metavar="FILE",
                       help="constrain the reply to this grammar (llguidance's Lark, or llama.cpp's GBNF)")
    run.add_argument("--system", help="system prompt")
    run.add_argument("--ctx", type=int, default=4096, help="context length per model")
    run.add_argument("--threads", type=int, default=None, help="threads per model (default: all cores)")
    run.add_argument("--json", action="store_true", help="print one JSON object with text and statistics")
    run.set_defaults(handler=run_command)


def _breakers(given: list[str]) -> tuple[str, ...] | None:
    """--dry-sequence-breaker values: None (not given), () for 'none', else the strings as typed
    (a backslash-n is a newline, as llama.cpp reads it)."""
    if not given:
        return None
    if given == ["none"]:
        return ()
    return tuple(text.replace("\\n", "\n") for text in given)


def _read_prompt(prompt: str) -> str:
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise SafeLocalError("the prompt is empty: give a prompt argument or pipe text into '-'")
    return text


def _read_file(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SafeLocalError(f"cannot read the {what} {path}: {getattr(e, 'strerror', None) or e}") from None


def run_command(args: argparse.Namespace) -> int:
    from safe_local.api import Ensemble, config_for, constraint_of, make_messages  # loads llama_cpp; keep `--help` fast
    from safe_local.reply_shape import ReplyShape
    from safe_local.store import select_ensemble

    prompt = _read_prompt(args.prompt)
    grammar = constraint_of(_read_file(args.json_schema, "JSON schema"), _read_file(args.grammar, "grammar"))
    specs, preset_options = select_ensemble(args.models, args.preset)
    flags = dict(
        method=args.method, base=args.base, chunk=args.chunk, max_tokens=args.max_tokens,
        temperature=args.temperature, top_p=args.top_p, seed=args.seed, weights=args.weights,
        sharpening=args.sharpening, drafter_gate=args.drafter_gate, stop=tuple(args.stop) or None,
        verifier_confidence=args.verifier_confidence, verifier_beats_drafter=args.verifier_beats_drafter,
        stop_loops=args.stop_loops, min_p=args.min_p, repeat_penalty=args.repeat_penalty,
        repeat_last_n=args.repeat_last_n, presence_penalty=args.presence_penalty,
        frequency_penalty=args.frequency_penalty, dry_multiplier=args.dry_multiplier, dry_base=args.dry_base,
        dry_allowed_length=args.dry_allowed_length, dry_penalty_last_n=args.dry_penalty_last_n,
        dry_sequence_breakers=_breakers(args.dry_sequence_breaker),
    )
    # fails on bad flags before loading anything
    config = config_for(len(specs), preset_options, {k: v for k, v in flags.items() if v is not None})
    cancel = threading.Event()
    with Ensemble.load(specs, n_ctx=args.ctx, n_threads=args.threads) as ens:
        result = None
        previous = signal.signal(signal.SIGINT, lambda *_: (cancel.set(), signal.signal(signal.SIGINT, previous)))
        try:
            for event in ens.engine.stream(make_messages(prompt, args.system), config, cancel, ReplyShape(grammar)):
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
