"""What every generation method shares: model calls, accepted text, stopping, choosing, reporting.

`Run` holds one generation's state (prompts per model, statistics, the reply so far, the
pending events) and the steps the methods have in common: a model call that masks control
tokens and applies each model's repetition penalties, accepting text (stop strings, the loop
guard), the union distribution, the choice of a string from it (sharpening; the sampling
target P* and the drafter's proposal over the union, safe_local.core.speculative), and the
EnsembleEvent of a position. Each method is a subclass whose `loop` yields
after every step (safe_local.runs.single, .safe, .pushed). Left out: which method runs (the
Engine picks the subclass).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from safe_local.backend.base import ContextFullError, Message, Model
from safe_local.core import (
    EOG_KEY,
    Consensus,
    GacUnion,
    UnionDistribution,
    draw,
    normalize_weights,
    sample_token,
    sampler_distribution,
    sharpen,
    softmax,
    top_indices,
    unite_union,
)
from safe_local.errors import SafeLocalError
from safe_local.events import (
    Done,
    EnsembleEvent,
    Event,
    GenerationResult,
    GenerationStats,
    Logprobs,
    ModelStats,
    ModelView,
    SpeculativeTest,
    TextDelta,
    TokenLogprob,
    piece_text,
)
from safe_local.generation_config import GenerationConfig
from safe_local.grammar import Constraint
from safe_local.loop_guard import LoopGuard
from safe_local.reply_shape import FREE, ReplyShape
from safe_local.reply_text import ReplyText


class Stop(Exception):
    """Ends a generation with a stop reason (eos, length, stop, loop, context, cancelled)."""

    def __init__(self, reason: str, message: str = ""):
        self.reason, self.message = reason, message


class Run:
    """One generation: the state and steps every method shares; a subclass's `loop` is the method."""

    def __init__(self, models: Sequence[Model], gac_union: Callable[[], GacUnion], messages: list[Message],
                 config: GenerationConfig, cancel: threading.Event, shape: ReplyShape = FREE):
        self.all_models = list(models)
        self.gac_union = gac_union  # built on first use, once per model set (the Engine keeps it)
        self.config = config
        self.cancel = cancel
        self.models = [models[config.single_model]] if config.method == "single" else list(models)
        # `single` ignores weights (validate does not check them for it): equal ones fill the slot.
        self.weights = normalize_weights(None if config.method == "single" else config.weights, len(models))
        self.rng = np.random.default_rng(config.seed)
        self.stats = GenerationStats(models=[ModelStats(m.name) for m in self.models])
        self.excluded = [np.flatnonzero(m.vocab.excluded_mask) for m in self.models]
        self.penalizers = [config.penalizer(m.vocab) for m in self.models]
        self.constraint = None if shape.grammar is None else Constraint(shape.grammar, [m.vocab for m in self.models])
        self.top_logprobs = shape.top_logprobs  # None: log-probabilities are not recorded
        self.logprobs: list[TokenLogprob] = []
        self.prompts = [m.prompt_tokens(messages, shape.tools) for m in self.models]
        for m, p in zip(self.models, self.prompts):
            if len(p) >= m.n_ctx:
                raise SafeLocalError(
                    f"the prompt is {len(p)} tokens for {m.name}, whose context is {m.n_ctx}: "
                    "shorten the conversation or load with a longer context"
                )
        self.stats.prompt_tokens = len(self.prompts[0])
        self.reply = ReplyText(config.stop)
        self.loop_guard = LoopGuard() if config.stop_loops else None
        self.data = b""  # accepted continuation bytes
        self.pending: list[Event] = []

    # --- plumbing -------------------------------------------------------------------------

    def evaluate(self, m: int, target: Sequence[int], positions: Sequence[int]) -> np.ndarray:
        """Logits rows of model m, with its control tokens already set to -inf, its repetition
        penalties applied and, under a constraint, its tokens that would leave the grammar at -inf.

        Masking once here means no later step (sampling, consensus, unions) proposes a token
        that has no text, and none of them needs its own masked copy of a 262k-entry row.
        Penalizing here, in the model's own token space, means every later step (drafting,
        SAFE's C1/C2 and App. H acceptance, the unions) reads the distribution the sampler
        uses. The row at position p predicts target[p + 1], so its history is target[: p + 1]:
        each row of a verifier's batch has its own. The constraint is applied here for the same
        reason: every later step then sees each model's distribution over valid tokens only.
        """
        model, stat = self.models[m], self.stats.models[m]
        before, t0 = model.n_decoded, time.perf_counter()
        try:
            rows = model.evaluate(target, positions)
        finally:
            stat.seconds += time.perf_counter() - t0
            stat.decode_calls += 1
            stat.tokens += model.n_decoded - before
        rows[:, self.excluded[m]] = -np.inf
        penalizer = self.penalizers[m]
        if penalizer is not None:
            history = np.asarray(target, dtype=np.int64)
            for row, p in zip(rows, positions):
                penalizer.apply(row, history[: p + 1])
        if self.constraint is not None:
            t0, start = time.perf_counter(), len(self.prompts[m])
            for row, p in zip(rows, positions):
                row[~self.constraint.mask(m, target[start: p + 1])] = -np.inf
            self.stats.constraint_seconds += time.perf_counter() - t0
        return rows

    def accept(self, data: bytes) -> None:
        """The accepted continuation grew to `data`: stream the new text, honour stop strings."""
        self.data = data
        delta = self.reply.update(data)
        if delta:
            self.pending.append(TextDelta(delta))
        if self.reply.stopped:
            raise Stop("stop")
        if self.loop_guard is not None and self.loop_guard.looping(self.reply.text):
            raise Stop("loop", "the reply kept repeating itself")

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Stop("cancelled")

    def sample(self, logits: np.ndarray) -> int:
        c = self.config
        return sample_token(logits, c.temperature, c.top_p, self.rng, min_p=c.min_p)

    def chosen_from(self, logits: np.ndarray) -> np.ndarray:
        """The distribution a drafter's token is chosen from: its softmax (greedy), its sampler's (sampled)."""
        c = self.config
        return sampler_distribution(logits, c.temperature, c.top_p, c.min_p) if c.temperature > 0 else softmax(logits)

    def logprob(self, probs: np.ndarray, index: int, key: Callable[[int], bytes], source: str) -> TokenLogprob:
        """The entry of the string at `index` of `probs` (a distribution over ids or union strings)."""
        def entry(i: int) -> tuple[str, list[int], float]:
            piece = key(i)
            with np.errstate(divide="ignore"):
                return piece_text(piece), list(b"" if piece == EOG_KEY else piece), float(np.log(probs[i]))
        token, raw, value = entry(index)
        top = [entry(int(i)) for i in top_indices(probs, self.top_logprobs or 0) if probs[i] > 0]
        return TokenLogprob(token, raw, value, top, source)

    def note(self, entries: list[TokenLogprob]) -> None:
        """Record the log-probabilities of pieces just accepted, and queue them as an event."""
        if entries:
            self.logprobs += entries
            self.pending.append(Logprobs(entries))

    def events(self) -> Iterator[Event]:
        t0 = time.perf_counter()
        reason, message = "length", ""
        try:
            for _ in self.loop():
                yield from self.pending
                self.pending.clear()
        except Stop as stop:
            reason, message = stop.reason, stop.message
        except ContextFullError as e:
            reason, message = "context", str(e)
        yield from self.pending
        delta = self.reply.update(self.data, final=True)
        if delta:
            yield TextDelta(delta)
        self.stats.seconds = time.perf_counter() - t0
        names = [m.name for m in self.all_models]
        c = self.config
        yield Done(
            GenerationResult(
                text=self.reply.text,
                method=c.method,
                base=c.base if c.method == "safe" else None,
                models=[m.name for m in self.models],
                drafter=self.models[0].name if c.method != "single" else names[c.single_model],
                stop_reason=reason,
                message=message,
                stats=self.stats,
                logprobs=self.logprobs if self.top_logprobs is not None else None,
            )
        )

    def loop(self) -> Iterator[None]:
        """The method: yields after each step that may have queued events; raises Stop to end."""
        raise NotImplementedError

    def room(self, m: int, used: int) -> None:
        if used >= self.models[m].n_ctx:
            raise Stop("context", f"{self.models[m].name}'s context of {self.models[m].n_ctx} tokens is full")

    @property
    def base(self) -> str:
        """The union a position is ensembled over: SAFE's base, or the every-token method's own."""
        return self.config.base if self.config.method == "safe" else self.config.method

    def union(self, logits: Sequence[np.ndarray]) -> UnionDistribution:
        if self.base == "gac":
            return self.gac_union().distribution(logits, self.weights, self.config.top_k)
        return unite_union(logits, [m.vocab for m in self.models], self.weights, self.config.top_k)

    def sharpened(self, dist: UnionDistribution) -> tuple[np.ndarray, str | None]:
        """The ensemble after sharpening, normalized, and the sharpening applied (None if none)."""
        c = self.config
        # A union without `proposed` has every string proposed (core.sharpening reads it so too).
        drafter_mask = dist.proposed[0] if dist.proposed is not None else np.ones(len(dist.strings), dtype=bool)
        scores, applied = sharpen(dist, c.sharpening, drafter_mask, c.sharpen_lambda)
        return scores / scores.sum(), (c.sharpening if applied else None)

    def target(self, p: np.ndarray, continuable: np.ndarray | None = None) -> np.ndarray:
        """P*, what a sampled ensemble position is drawn from: the sampler (temperature, top-p,
        min-p) applied to the sharpened ensemble p, then, for SAFE, restricted to the strings the
        drafter can continue from (`continuable`; all of them when none is)."""
        c = self.config
        with np.errstate(divide="ignore"):  # a string with no mass keeps none
            star = sampler_distribution(np.log(p), c.temperature, c.top_p, c.min_p)
        if continuable is not None:
            kept = np.where(continuable, star, 0.0)
            if kept.sum() > 0:
                star = kept / kept.sum()
        return star

    def choose(self, dist: UnionDistribution, drafted_key: bytes | None) -> tuple[int, str | None, np.ndarray]:
        """Pick the ensemble's string: the sharpened argmax, or (sampling, every-token methods) a
        draw from the target P*. Returns its union index, the sharpening applied, and what it was
        chosen from.

        With a drafter (SAFE), the string must be one the drafter can continue from: its own
        piece, or whole UTF-8 characters it can tokenize. A lone byte of a character from
        another model's byte-level vocabulary would come back from the drafter's tokenizer as
        U+FFFD, so such strings lose their mass before the choice. (Sampled SAFE positions are
        decided by SafeRun's acceptance test, not here.)
        """
        p, applied = self.sharpened(dist)
        if self.config.temperature > 0:
            star = self.target(p)
            return draw(star, self.rng), applied, star
        if drafted_key is not None:
            whole = p.copy()
            for i in top_indices(p, 32):
                if self.drafter_can_take(dist.strings[i]):
                    break
                p[i] = 0.0
            p = p / p.sum() if p.sum() > 0 else whole
        return int(np.argmax(p)), applied, p

    def continuable(self, dist: UnionDistribution) -> np.ndarray:
        """(U,) bool: the union strings the drafter can take (drafter_can_take), cached for GaC's union."""
        if self.base == "gac":
            return self.gac_union().continuable(0)
        return np.fromiter(map(self.drafter_can_take, dist.strings), dtype=bool, count=len(dist.strings))

    def proposal(self, dist: UnionDistribution, q_tokens: np.ndarray) -> np.ndarray:
        """The drafter's sampler distribution over its ids as mass on the union's strings (each
        string gets every id whose key it is; ids whose string is not in the union give none)."""
        if self.base == "gac":
            index = self.gac_union().index[0]
            ids = np.flatnonzero(q_tokens > 0)
            ids = ids[index[ids] >= 0]
            return np.bincount(index[ids], weights=q_tokens[ids], minlength=len(dist.strings))
        vocab = self.models[0].vocab
        return np.array([q_tokens[vocab.ids_of(s)].sum() for s in dist.strings], dtype=np.float64)

    def union_index(self, dist: UnionDistribution, token_id: int) -> int | None:
        """Where the drafter's token sits in the union, or None when its string is not there."""
        if self.base == "gac":
            i = int(self.gac_union().index[0][token_id])
            return i if i >= 0 else None
        key = self.models[0].vocab.key(token_id)
        return dist.strings.index(key) if key in dist.strings else None

    def drafter_can_take(self, s: bytes) -> bool:
        if s == EOG_KEY or self.models[0].vocab.id_of(s) is not None:
            return True
        try:
            s.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def report(self, offset: int, full: bytes, drafted: bytes, dist: UnionDistribution, chosen: bytes,
               sharpened: str | None, scores: np.ndarray, cons: Consensus | None, tokens: list[bytes],
               views: list[tuple[float, bool]], test: SpeculativeTest | None = None) -> None:
        """Count an ensembled position and queue its event for the inspector."""
        self.stats.ensembled += 1
        def best(row: np.ndarray) -> list[tuple[str, float]]:
            return [(piece_text(dist.strings[i]), float(row[i])) for i in top_indices(row, 5)]

        top = best(scores)
        models = [
            ModelView(model.name, piece_text(tokens[m]), float(views[m][0]), bool(views[m][1]), best(dist.per_model[m]))
            for m, model in enumerate(self.models)
        ]
        method = self.config.method
        self.pending.append(
            EnsembleEvent(
                index=self.stats.ensembled - 1,
                offset=offset,
                char_offset=len(full[:offset].decode("utf-8", errors="ignore")),
                drafted=piece_text(drafted),
                chosen=piece_text(chosen),
                replaced=chosen != drafted,
                base=self.config.base if method == "safe" else method,
                c1=None if cons is None or cons.c1 is None else bool(cons.c1),
                c2=None if cons is None else float(cons.c2),
                weights=[float(w) for w in self.weights],
                sharpening=sharpened,
                models=models,
                top=top,
                test=test,
                c2_threshold=None if cons is None else float(self.config.consensus_threshold),
            )
        )


def _log_normalizer(logits: np.ndarray) -> tuple[float, float]:
    """(max, log-sum-exp) of a logits row, without materializing its softmax."""
    top = float(logits.max())
    return top, top + float(np.log(np.exp(logits - top).sum(dtype=np.float64)))


def max_prob(logits: np.ndarray) -> float:
    top, lse = _log_normalizer(logits)
    return float(np.exp(top - lse))


def aligned_view(model: Model, logits: np.ndarray, token: int) -> tuple[float, bool]:
    """(probability of the aligned token, whether it is the model's argmax); token -1 = end of generation."""
    vocab = model.vocab
    _, lse = _log_normalizer(logits)
    best = int(np.argmax(logits))
    if token < 0 or vocab.eog_mask[token]:
        return float(np.exp(logits[np.asarray(vocab.eog_ids, dtype=np.int64)] - lse).sum()), bool(vocab.eog_mask[best])
    return float(np.exp(logits[token] - lse)), best == token


def string_view(dist: UnionDistribution, m: int, chosen: bytes) -> tuple[float, bool]:
    row = dist.per_model[m]
    i = dist.strings.index(chosen)
    return float(row[i]), int(np.argmax(row)) == i
