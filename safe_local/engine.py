"""The generation engine: SAFE and the baselines it is compared with, on loaded models.

Methods (all here, so they can be compared on the same prompts and models):
- `single`: one model alone (the drafter unless `single_model` picks another).
- `safe`: Generate-Verify-Ensemble. The drafter drafts `chunk` tokens (fixed, or adapting
  between 2 and 16 with "auto", the default); every verifier
  re-tokenizes the continuation and scores it in one batch; the earliest position that is
  stable (a boundary for every model) and lacks consensus (neither C1 nor C2) is ensembled with
  the base method (`unite` top-k union or `gac` full union vocabulary) and sharpened; drafted
  tokens after a replaced one are discarded. Verifiers never get ensembled ids pushed in.
- `unite`: every-token UniTE; each step all models' top-k union decides; the drafter takes the
  chosen string as its ids and every other model re-tokenizes the whole reply, as UniTE's
  released code does (their KV caches keep the common prefix).
- `gac`: GaC with a threshold; the drafter decides alone unless its max probability is below
  `gac_threshold`, then all models' full distributions are averaged over the union vocabulary.
  Chosen strings reach the models as for `unite`; verifiers decode them lazily, in one batch,
  only when they are next needed.

The methods live in safe_local.runs, one module each, on the steps they share (runs/base.py);
the options in safe_local.generation_config. Every model call goes through `Model.evaluate`, which keeps each KV cache equal to a token
prefix, so cancelling between steps, rolling back after an ensemble and reusing a chat prompt's
cache on the next turn all leave the caches consistent. Loading models, resolving names and
formatting output are left to the API and CLI.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Iterator, Sequence

from safe_local.backend.base import Message, Model
from safe_local.core import GacUnion
from safe_local.errors import SafeLocalError
from safe_local.events import Done, Event, GenerationResult
from safe_local.generation_config import AUTO, BASES, METHODS, SHARPENING, GenerationConfig
from safe_local.reply_shape import FREE, ReplyShape
from safe_local.runs.pushed import PushedRun
from safe_local.runs.safe import SafeRun
from safe_local.runs.single import SingleRun

__all__ = ["AUTO", "BASES", "METHODS", "SHARPENING", "Engine", "GenerationConfig"]

_RUNS = {"single": SingleRun, "safe": SafeRun, "unite": PushedRun, "gac": PushedRun}


class Engine:
    """Runs generations on a fixed, loaded model set (the first model drafts)."""

    def __init__(self, models: Sequence[Model]):
        if not models:
            raise SafeLocalError("an ensemble needs at least one model")
        self.models = list(models)
        self._lock = threading.Lock()

    @cached_property
    def gac_union(self) -> GacUnion:
        """The union vocabulary, built once per model set on first use."""
        return GacUnion([m.vocab for m in self.models])

    def stream(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = GenerationConfig(),
        cancel: threading.Event | None = None,
        shape: ReplyShape = FREE,
    ) -> Iterator[Event]:
        """Generate a reply, yielding TextDelta and EnsembleEvent as they happen, then Done.

        The config and messages are checked here, at the call; the generation starts when the
        first event is asked for. With the shape's grammar, every model's tokens are masked to
        those that keep the reply valid (safe_local.grammar); its tools (OpenAI function
        descriptions) go into every model's prompt; with its top_logprobs (0 or more), each
        accepted piece's log-probability and that many alternatives come as Logprobs events and in
        the result.
        """
        config.validate(len(self.models))
        if not messages:
            raise SafeLocalError("nothing to answer: give a prompt or at least one message")
        return self._events(list(messages), config, cancel or threading.Event(), shape)

    def _events(self, messages: list[Message], config: GenerationConfig, cancel: threading.Event,
                shape: ReplyShape) -> Iterator[Event]:
        if not self._lock.acquire(blocking=False):
            raise SafeLocalError("this ensemble is already generating; wait for it or cancel it first")
        try:
            run = _RUNS[config.method](self.models, lambda: self.gac_union, messages, config, cancel, shape)
            yield from run.events()
        finally:
            self._lock.release()

    def catch_up(self, messages: Sequence[Message], reply: str) -> None:
        """Bring every verifier's cache up to a finished reply, one batch each.

        SAFE lets the verifiers lag behind the text (they decode only where a row is needed). A
        chat calls this once a turn has ended, while the user reads, so the next turn's first
        verification does not pay for the lag; a verifier already that far decodes nothing, and
        one whose context the reply does not fit is left as it is (the next turn will say so).
        """
        with self._lock:
            for model in self.models[1:]:
                target = model.prompt_tokens(list(messages)) + model.tokenize(reply.encode("utf-8"))
                if len(target) < model.n_ctx and model.cached_tokens != target:
                    model.evaluate(target, [len(target) - 1])

    def reset_caches(self) -> None:
        """Empty every model's cache, so the next reply is the one freshly loaded models would give.

        llama.cpp's logits depend on the batch shape (SAFE_SPEC: L1 up to 0.3 for Gemma between a
        1-token decode and a batch), so a reply that reuses an earlier prompt's cached prefix can
        differ from a fresh one where a sample or a near-tie falls the other way.
        """
        with self._lock:
            for model in self.models:
                model.reset()

    def generate(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = GenerationConfig(),
        cancel: threading.Event | None = None,
        shape: ReplyShape = FREE,
    ) -> GenerationResult:
        result = None
        for event in self.stream(messages, config, cancel, shape):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result
