"""An llm (simonw/llm) plugin: every preset and local model of safe-local as an llm model.

    llm -m safe-tiny "What is 2+2?"                   # the tiny preset, as `safe-local run` answers
    llm -m safe-tiny -o method safe -o base gac -o weights 4,1,1 -o temperature 0.7 "..."
    llm chat -m safe-tiny                             # or `llm -c "..."` to continue

Registered through the `llm` entry point in pyproject.toml. The ids are `safe-<preset>` for
each preset whose models are all on this machine (safe_local.store.local_presets, the presets
the server offers too) and `safe-<name>` for each local model (safe_local.store.list_local).
An id another plugin or the user's extra-openai-models.yaml already registers (say `safe-tiny`
pointing at `safe-local serve`) is left to it: what the user configured by hand wins.

Defaults are `safe-local run`'s: the preset's own options (tiny: SAFE on GaC, weights 4,1,1)
over GenerationConfig's, so greedy (temperature 0), up to 2048 tokens, a 4096-token context per
model; a single model answers alone (`single`). Every `-o` option is one of `run`'s flags
(`-o max_tokens 64` for `--max-tokens 64`). llm checks each option's type (its own two-line
message naming the option); the engine's checks (method against the number of models, weights,
ranges) run before any model loads and fail as the engine's one line, in `llm chat` too.

Conversations: the reply is generated for llm's whole message chain of the turn
(`prompt.messages`: system, earlier prompts and replies, this prompt), so `llm -c` and
`llm chat` keep their context; the KV caches keep the common prefix between turns. The first
Ctrl+C during a reply stops it at the engine's next step and keeps what was generated (stop
reason "cancelled": `llm chat` goes on to the next prompt); a second one interrupts at once.
The ensemble's statistics (GenerationResult.to_dict() without the text) go into the logged
response JSON under "safe"; input/output tokens are the engine's prompt and reply tokens.

Models are loaded on a model's first prompt and then kept for the process (`llm chat` loads
once), one ensemble per model id, closed at exit. Registration reads only the catalog and the
local caches: it never imports llama.cpp or loads a model (llm registers on every command).

Left out on purpose: async models, tools, schemas/grammars (`safe-local run --json-schema` and
the server have them), attachments, and the research knobs `run` does not offer either
(consensus and GaC thresholds, top_k, sharpen_lambda, DRY sequence breakers).
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import click
import llm
from llm.parts import TextPart
from pydantic import Field, field_validator

from safe_local.errors import SafeLocalError
from safe_local.events import Done, TextDelta
from safe_local.generation_config import AUTO, BASES, METHODS, SHARPENING, GenerationConfig
from safe_local.store import list_local, local_presets

if TYPE_CHECKING:  # loads llama.cpp: imported at the first prompt, not at registration
    from safe_local.api import Ensemble

PREFIX = "safe-"
DEFAULT_CTX = 4096  # `safe-local run --ctx`
_ROLES = ("system", "user", "assistant")
_DEFAULTS = GenerationConfig()


@llm.hookimpl(trylast=True)  # last, so that the ids others registered are known (see the docstring)
def register_models(register: Callable[..., None], model_aliases: Sequence[Any]) -> None:
    taken = {name for m in model_aliases if m.model for name in (m.model.model_id, *m.aliases)}
    try:
        local = list_local()
        choices = {p.name: (p.specs, p.options) for p in local_presets(local)}
    except SafeLocalError as e:  # a broken config.toml must not break llm for every other model
        print(f"safe-local: no models registered: {e}", file=sys.stderr)
        return
    for model in local:
        choices.setdefault(model.name, ((model.name,), {}))
    for name, (specs, options) in choices.items():
        if PREFIX + name not in taken:
            register(SafeLocalModel(PREFIX + name, specs, options))


def _numbers(value: Any) -> Any:
    """`-o weights 4,1,1` arrives as one string: its numbers (a list from Python stays as it is)."""
    if not isinstance(value, str):
        return value
    try:
        return [float(part) for part in value.split(",")]
    except ValueError:  # one message for the option (llm cannot show per-item errors)
        raise ValueError(f"{value!r} is not comma-separated numbers, drafter first (e.g. 4,1,1)") from None


def _auto_or(kind: type) -> Callable[[Any], Any]:
    """A validator for an option that is a number of `kind` or "auto" (`-o chunk 5`, `-o chunk auto`)."""
    def parse(value: Any) -> Any:
        if not isinstance(value, str) or value.strip().lower() == AUTO:
            return AUTO if isinstance(value, str) else value
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not {'a whole number' if kind is int else 'a number'} or auto") from None
    return parse


class SafeLocalModelError(llm.ModelError, click.ClickException):
    """The engine's one-line message as llm's model error. Also a ClickException, so `llm chat`
    (which catches no model errors) shows the one line and exits, as `llm "..."` does, rather
    than a traceback."""


class SafeLocalModel(llm.Model):
    can_stream = True

    class Options(llm.Options):
        # None: the preset's value, else GenerationConfig's default (as `safe-local run`). Names are
        # plain strings, so a wrong one gets the engine's one-line message listing the right ones.
        method: str | None = Field(None, description=f"{', '.join(METHODS)} (single: the drafter alone; "
                                   f"default: the preset's, else {_DEFAULTS.method})")
        base: str | None = Field(None, description=f"the base ensemble of safe: {', '.join(BASES)} "
                                 f"(default: the preset's, else {_DEFAULTS.base})")
        weights: list[float] | None = Field(
            None, description="per-model weights, drafter first, comma-separated: 4,1,1 (default: the preset's, else equal)")
        chunk: int | Literal[AUTO] | None = Field(
            None, description=f"tokens drafted per cycle, or auto (default {_DEFAULTS.chunk})")
        drafter_gate: float | Literal[AUTO] | None = Field(
            None, description="safe: ensemble only where the drafter's probability is below this (1: always; "
            "default auto: 0.5 for base gac, none for unite)")
        sharpening: str | None = Field(
            None, description=f"{', '.join(SHARPENING)} (default {_DEFAULTS.sharpening})")
        max_tokens: int | None = Field(None, description=f"the reply's limit in tokens (default {_DEFAULTS.max_tokens})")
        temperature: float | None = Field(None, description="0 = greedy (the default)")
        top_p: float | None = Field(None, description=f"nucleus sampling (default {_DEFAULTS.top_p})")
        min_p: float | None = Field(
            None, description="sampling keeps tokens at least this times as likely as the best (default 0: off)")
        seed: int | None = Field(None, description="seed of a sampled reply (default: a fresh one per reply)")
        stop: str | list[str] | None = Field(None, description="end the reply at this text")
        stop_loops: bool | None = Field(None, description="end the reply once it keeps repeating itself")
        repeat_penalty: float | None = Field(
            None, description="divide a recently seen token's logit by this (default 1: off)")
        repeat_last_n: int | None = Field(
            None, description=f"tokens the repeat, presence and frequency penalties look back "
            f"(-1: all, 0: off; default {_DEFAULTS.repeat_last_n})")
        presence_penalty: float | None = Field(
            None, description="subtract this from a recently seen token's logit (default 0)")
        frequency_penalty: float | None = Field(None, description="subtract this per recent occurrence (default 0)")
        dry_multiplier: float | None = Field(
            None, description="DRY: penalize a token that extends a repeat (default 0: off; 0.8 is usual)")
        dry_base: float | None = Field(
            None, description=f"DRY penalty growth per repeated token (default {_DEFAULTS.dry_base})")
        dry_allowed_length: int | None = Field(
            None, description=f"DRY lets repeats this long go (default {_DEFAULTS.dry_allowed_length})")
        dry_penalty_last_n: int | None = Field(None, description="tokens DRY looks back (-1: all, the default; 0: off)")
        # How the models are loaded: another value loads them again (once); a chat keeps its models.
        ctx: int | None = Field(None, description=f"context length per model (default {DEFAULT_CTX})")
        threads: int | None = Field(None, description="threads per model (default: all cores)")

        _weights = field_validator("weights", mode="before")(_numbers)
        _chunk = field_validator("chunk", mode="before")(_auto_or(int))
        _drafter_gate = field_validator("drafter_gate", mode="before")(_auto_or(float))

    def __init__(self, model_id: str, specs: Sequence[str], options: dict[str, Any]):
        self.model_id = model_id
        self.specs = tuple(specs)  # drafter first, with any `@host:port` placements
        self.defaults = dict(options)  # the preset's generation options ({} for a single model)

    def __str__(self) -> str:  # what `llm models` shows: the id and what answers under it
        return f"safe-local: {self.model_id} ({', '.join(self.specs)})"

    def execute(self, prompt: llm.Prompt, stream: bool, response: llm.Response,
                conversation: llm.Conversation | None) -> Iterator[str]:
        try:
            yield from self._reply(prompt, stream, response)
        except SafeLocalError as e:  # the engine's one-line message, shown by llm as its own error
            raise SafeLocalModelError(str(e)) from None

    def _reply(self, prompt: llm.Prompt, stream: bool, response: llm.Response) -> Iterator[str]:
        from safe_local.api import config_for  # loads llama.cpp

        chosen = {name: value for name, value in prompt.options if value is not None}
        load = (chosen.pop("ctx", DEFAULT_CTX), chosen.pop("threads", None))
        config = config_for(len(self.specs), self.defaults, chosen)  # bad options fail before any load
        ensemble = _loaded(self, *load)
        cancel = threading.Event()
        events = ensemble.engine.stream(chat_messages(prompt), config, cancel)
        result = None
        try:
            with _ctrl_c_sets(cancel):
                for event in events:
                    if isinstance(event, TextDelta) and stream:
                        yield event.text
                    elif isinstance(event, Done):
                        result = event.result
        except BaseException:
            # Interrupted mid-reply (a second Ctrl+C, a consumer that stopped reading): end the run
            # and start the next turn from empty caches rather than from a half-decoded batch.
            events.close()
            ensemble.engine.reset_caches()
            raise
        assert result is not None, "the engine ended a reply without Done"
        if not stream:
            yield result.text
        response.response_json = {"safe": {k: v for k, v in result.to_dict().items() if k != "text"}}
        response.set_usage(input=result.stats.prompt_tokens, output=result.stats.tokens)


def chat_messages(prompt: llm.Prompt) -> list[dict[str, str]]:
    """The turn's whole chain as chat messages: llm's `prompt.messages` holds the system prompt,
    the earlier prompts and replies of a conversation (`-c`, `llm chat`) and this prompt."""
    return [{"role": m.role, "content": "".join(p.text for p in m.parts if isinstance(p, TextPart))}
            for m in prompt.messages if m.role in _ROLES]


# model id -> ((n_ctx, n_threads), its loaded ensemble); kept for the process.
_ENSEMBLES: dict[str, tuple[tuple[int, int | None], Ensemble]] = {}
_LOAD_LOCK = threading.Lock()


def _loaded(model: SafeLocalModel, n_ctx: int, n_threads: int | None) -> Ensemble:
    """The model's ensemble, loaded on first use; loaded again only for other load options."""
    from safe_local.api import Ensemble

    with _LOAD_LOCK:
        held = _ENSEMBLES.get(model.model_id)
        if held is not None and held[0] == (n_ctx, n_threads) and not held[1].lost:
            return held[1]
        if held is not None:  # one copy of the models in memory at a time
            del _ENSEMBLES[model.model_id]
            held[1].close()
        ensemble = Ensemble.load(list(model.specs), n_ctx=n_ctx, n_threads=n_threads)
        _ENSEMBLES[model.model_id] = ((n_ctx, n_threads), ensemble)
        return ensemble


@atexit.register
def _close_all() -> None:
    while _ENSEMBLES:
        _, (_, ensemble) = _ENSEMBLES.popitem()
        ensemble.close()


@contextmanager
def _ctrl_c_sets(cancel: threading.Event) -> Iterator[None]:
    """While a reply runs, the first Ctrl+C sets `cancel` (the engine stops at its next step) and
    puts the previous handler back, so a second one interrupts at once. Only the main thread can
    set signal handlers; elsewhere (llm used from a thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler set outside Python: Python's own is the closest
        previous = signal.default_int_handler

    def first(signum: int, frame: object) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
