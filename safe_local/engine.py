"""The generation engine: SAFE and the baselines it is compared with, on loaded models.

Methods (all here, so they can be compared on the same prompts and models):
- `single`: one model alone (the drafter unless `single_model` picks another).
- `safe`: Generate-Verify-Ensemble. The drafter drafts `chunk` tokens (fixed, or adapting
  between 2 and 16 with "auto", the default); every verifier
  re-tokenizes the continuation and scores it in one batch; the earliest position that is
  stable (a boundary for every model) and lacks consensus (neither C1 nor C2) is ensembled with
  the base method (`unite` top-k union or `gac` full union vocabulary) and sharpened; drafted
  tokens after a replaced one are discarded. Verifiers never get ensembled ids pushed in.
- `unite`: every-token UniTE; each step all models' top-k union decides, and the chosen string
  is tokenized and pushed into every model (their KV caches grow with it).
- `gac`: GaC with a threshold; the drafter decides alone unless its max probability is below
  `gac_threshold`, then all models' full distributions are averaged over the union vocabulary.
  Chosen strings are pushed into every model; verifiers decode them lazily, in one batch, only
  when they are next needed.

Every model call goes through `Model.evaluate`, which keeps each KV cache equal to a token
prefix, so cancelling between steps, rolling back after an ensemble and reusing a chat prompt's
cache on the next turn all leave the caches consistent. Loading models, resolving names and
formatting output are left to the API and CLI.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

from safe_local.backend.base import ContextFullError, Message, Model
from safe_local.core import (
    EOG_KEY,
    GacUnion,
    UnionDistribution,
    accept_or_resample,
    aligned_indices,
    candidate_positions,
    check,
    complete_utf8_len,
    drafter_decides,
    normalize_weights,
    sample_token,
    sharpen,
    token_ends,
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
    ModelStats,
    ModelView,
    TextDelta,
    piece_text,
)
from safe_local.loop_guard import LoopGuard
from safe_local.reply_text import ReplyText

METHODS = ("single", "safe", "unite", "gac")
BASES = ("unite", "gac")
SHARPENING = ("none", "heuristic", "geometric")


# The type each option's value must have. Checked before the ranges, so a "six" or a 2.5 from a
# config file or a keyword gives a one-line error instead of a TypeError deep in a generation.
_WHOLE_NUMBERS = ("max_tokens", "top_k", "single_model")
AUTO = "auto"
# `chunk = "auto"`: SAFE's draft length adapts (see _ChunkLength).
CHUNK_START, CHUNK_MIN, CHUNK_MAX = 5, 2, 16
_NUMBERS = ("temperature", "top_p", "sharpen_lambda", "consensus_threshold", "gac_threshold")
_NAMES = ("method", "base", "sharpening")


def _is_whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class GenerationConfig:
    method: str = "safe"
    base: str = "unite"  # base ensemble for `safe`
    chunk: int | str = AUTO  # n, tokens drafted per cycle, or "auto" (adapts between 2 and 16)
    max_tokens: int = 2048
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    weights: Sequence[float] | None = None  # per model, drafter first; None: equal
    stop: Sequence[str] = ()
    stop_loops: bool = False  # end the reply (stop reason "loop") once it repeats itself; see loop_guard
    sharpening: str = "heuristic"
    sharpen_lambda: float = 0.1
    top_k: int = 10  # UniTE union size per model
    consensus_threshold: float = 0.5  # C2 passes when the weighted mean exceeds this
    gac_threshold: float = 0.5  # `gac`: ensemble when the drafter's max prob is below this
    single_model: int = 0  # `single`: which model

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):  # one stop string (as llama.cpp and OpenAI read it), not its characters
            object.__setattr__(self, "stop", (self.stop,))

    def check_types(self) -> None:
        """Raise SafeLocalError naming the first option whose value has the wrong type."""
        if self.chunk != AUTO and not _is_whole(self.chunk):
            raise SafeLocalError(f"chunk must be a whole number or \"auto\", got {self.chunk!r}")
        for name in _WHOLE_NUMBERS:
            if not _is_whole(getattr(self, name)):
                raise SafeLocalError(f"{name} must be a whole number, got {getattr(self, name)!r}")
        for name in _NUMBERS:
            if not _is_number(getattr(self, name)):
                raise SafeLocalError(f"{name} must be a number, got {getattr(self, name)!r}")
        for name in _NAMES:
            if not isinstance(getattr(self, name), str):
                raise SafeLocalError(f"{name} must be a name, got {getattr(self, name)!r}")
        if self.seed is not None and not _is_whole(self.seed):
            raise SafeLocalError(f"seed must be a whole number, got {self.seed!r}")
        if not isinstance(self.stop_loops, bool):
            raise SafeLocalError(f"stop_loops must be true or false, got {self.stop_loops!r}")
        if not isinstance(self.stop, (list, tuple)) or not all(isinstance(x, str) for x in self.stop):
            raise SafeLocalError(f"stop must be a string or a list of strings, got {self.stop!r}")
        if self.weights is not None and (
            not isinstance(self.weights, (list, tuple, np.ndarray)) or not all(_is_number(w) for w in self.weights)
        ):
            raise SafeLocalError(f"weights must be a list of numbers, one per model (drafter first), got {self.weights!r}")

    def validate(self, k: int) -> None:
        self.check_types()
        if self.method not in METHODS:
            raise SafeLocalError(f"unknown method '{self.method}': use one of {', '.join(METHODS)}")
        if self.base not in BASES:
            raise SafeLocalError(f"unknown base '{self.base}': use unite or gac")
        if self.sharpening not in SHARPENING:
            raise SafeLocalError(f"unknown sharpening '{self.sharpening}': use one of {', '.join(SHARPENING)}")
        if self.method != "single" and k < 2:
            raise SafeLocalError(f"method '{self.method}' needs at least 2 models, got {k}: add models or use method single")
        if not 0 <= self.single_model < k:
            raise SafeLocalError(f"single_model {self.single_model} is not one of the {k} loaded models")
        if self.chunk != AUTO and self.chunk < 1:
            raise SafeLocalError(f"chunk length must be at least 1, got {self.chunk}")
        if self.max_tokens < 1:
            raise SafeLocalError(f"max tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise SafeLocalError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise SafeLocalError(f"top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 1:
            raise SafeLocalError(f"top-k must be at least 1, got {self.top_k}")
        if self.method != "single":  # one model answers alone: weights do not apply
            try:
                normalize_weights(self.weights, k)
            except ValueError as e:
                raise SafeLocalError(f"bad weights: {e}") from None


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
    ) -> Iterator[Event]:
        """Generate a reply, yielding TextDelta and EnsembleEvent as they happen, then Done.

        The config and messages are checked here, at the call; the generation starts when the
        first event is asked for.
        """
        config.validate(len(self.models))
        if not messages:
            raise SafeLocalError("nothing to answer: give a prompt or at least one message")
        return self._events(list(messages), config, cancel or threading.Event())

    def _events(self, messages: list[Message], config: GenerationConfig, cancel: threading.Event) -> Iterator[Event]:
        if not self._lock.acquire(blocking=False):
            raise SafeLocalError("this ensemble is already generating; wait for it or cancel it first")
        try:
            yield from _Run(self, messages, config, cancel).events()
        finally:
            self._lock.release()

    def generate(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = GenerationConfig(),
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        result = None
        for event in self.stream(messages, config, cancel):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result


class _Stop(Exception):
    def __init__(self, reason: str, message: str = ""):
        self.reason, self.message = reason, message


@dataclass
class _Drafted:
    ids: list[int] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)


class _ChunkLength:
    """SAFE's draft length: fixed, or adapting to how much of each chunk survives.

    With "auto" it starts at the paper's 5, grows by 2 after a chunk kept whole (up to 16: easy
    text, so verifier batches get larger and rarer) and halves after a chunk cut by an
    ensemble (down to 2: fewer drafted tokens thrown away). The drafter's greedy tokens do not
    depend on it; what can change is where chunks end, and with that which positions every
    verifier's tokenization has a boundary at, and the batch shapes the verifiers score in.
    """

    def __init__(self, chunk: int | str):
        self.auto = chunk == AUTO
        self.n = CHUNK_START if self.auto else int(chunk)

    def update(self, kept: int, drafted: int) -> None:
        if not self.auto or drafted == 0:
            return
        if kept < drafted:
            self.n = max(CHUNK_MIN, self.n // 2)
        elif drafted == self.n:  # a chunk cut short by the token limit or the context says nothing
            self.n = min(CHUNK_MAX, self.n + 2)


class _Run:
    """One generation: the state shared by the method loops."""

    def __init__(self, engine: Engine, messages: list[Message], config: GenerationConfig, cancel: threading.Event):
        self.engine = engine
        self.config = config
        self.cancel = cancel
        self.models = (
            [engine.models[config.single_model]] if config.method == "single" else engine.models
        )
        # `single` ignores weights (validate does not check them for it): equal ones fill the slot.
        self.weights = normalize_weights(None if config.method == "single" else config.weights, len(engine.models))
        self.rng = np.random.default_rng(config.seed)
        self.stats = GenerationStats(models=[ModelStats(m.name) for m in self.models])
        self.excluded = [np.flatnonzero(m.vocab.excluded_mask) for m in self.models]
        self.prompts = [m.prompt_tokens(messages) for m in self.models]
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
        """Logits rows of model m, with its control tokens already set to -inf.

        Masking once here means no later step (sampling, consensus, unions) proposes a token
        that has no text, and none of them needs its own masked copy of a 262k-entry row.
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
        return rows

    def accept(self, data: bytes) -> None:
        """The accepted continuation grew to `data`: stream the new text, honour stop strings."""
        self.data = data
        delta = self.reply.update(data)
        if delta:
            self.pending.append(TextDelta(delta))
        if self.reply.stopped:
            raise _Stop("stop")
        if self.loop_guard is not None and self.loop_guard.looping(self.reply.text):
            raise _Stop("loop", "the reply kept repeating itself")

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise _Stop("cancelled")

    def sample(self, logits: np.ndarray) -> int:
        c = self.config
        return sample_token(logits, c.temperature, c.top_p, self.rng)

    def events(self) -> Iterator[Event]:
        t0 = time.perf_counter()
        loop = {"single": self.run_single, "safe": self.run_safe, "unite": self.run_unite, "gac": self.run_gac}
        reason, message = "length", ""
        try:
            for _ in loop[self.config.method]():
                yield from self.pending
                self.pending.clear()
        except _Stop as stop:
            reason, message = stop.reason, stop.message
        except ContextFullError as e:
            reason, message = "context", str(e)
        yield from self.pending
        delta = self.reply.update(self.data, final=True)
        if delta:
            yield TextDelta(delta)
        self.stats.seconds = time.perf_counter() - t0
        names = [m.name for m in self.engine.models]
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
            )
        )

    def room(self, m: int, used: int) -> None:
        if used >= self.models[m].n_ctx:
            raise _Stop("context", f"{self.models[m].name}'s context of {self.models[m].n_ctx} tokens is full")

    # --- single ---------------------------------------------------------------------------

    def run_single(self) -> Iterator[None]:
        model, prompt, gen = self.models[0], self.prompts[0], []
        while len(gen) < self.config.max_tokens:
            self.check_cancel()
            self.room(0, len(prompt) + len(gen))
            target = prompt + gen
            logits = self.evaluate(0, target, [len(target) - 1])[0]
            tok = self.sample(logits)
            if model.vocab.eog_mask[tok]:
                raise _Stop("eos")
            gen.append(tok)
            self.stats.tokens = len(gen)
            self.stats.cycles += 1
            self.accept(self.data + model.vocab.pieces[tok])
            yield

    # --- SAFE -----------------------------------------------------------------------------

    def run_safe(self) -> Iterator[None]:
        c = self.config
        dv = self.models[0].vocab
        prompt, gen = self.prompts[0], []
        length = _ChunkLength(c.chunk)
        while len(gen) < c.max_tokens:
            self.check_cancel()
            draft = self.draft(prompt, gen, min(length.n, c.max_tokens - len(gen)))
            self.stats.cycles += 1
            self.stats.drafted += len(draft.ids)
            kept, replacement, eos = self.verify(draft)
            length.update(kept, len(draft.ids))
            self.stats.accepted += kept
            self.stats.rejected += len(draft.ids) - kept
            new = draft.ids[:kept]
            if eos:
                new = [t for t in new if not dv.eog_mask[t]]
            # A replacement string may be several drafter tokens: never pass max_tokens.
            new = (new + replacement)[: c.max_tokens - len(gen)]
            gen.extend(new)
            self.stats.tokens = len(gen)
            self.accept(self.data + b"".join(dv.pieces[t] for t in new))
            if eos:
                raise _Stop("eos")
            yield

    def draft(self, prompt: list[int], gen: list[int], n: int) -> _Drafted:
        out = _Drafted()
        vocab = self.models[0].vocab
        for _ in range(n):
            target = prompt + gen + out.ids
            if len(target) >= self.models[0].n_ctx:
                if not out.ids:
                    self.room(0, len(target))
                break
            logits = self.evaluate(0, target, [len(target) - 1])[0]
            tok = self.sample(logits)
            out.ids.append(tok)
            out.logits.append(logits)
            if vocab.eog_mask[tok] or self.cancel.is_set():
                break
        return out

    def verify(self, draft: _Drafted) -> tuple[int, list[int], bool]:
        """Check the drafted chunk; return (drafted tokens kept, drafter ids to append, reply ended)."""
        c = self.config
        dv = self.models[0].vocab
        base = len(self.data)
        full = self.data + b"".join(dv.pieces[t] for t in draft.ids)
        limit = complete_utf8_len(full)
        ends_d = base + token_ends(dv.piece_len, draft.ids)
        starts_d = np.concatenate(([base], ends_d[:-1])) if len(draft.ids) else ends_d
        zero_len = dv.piece_len[draft.ids] == 0 if draft.ids else np.zeros(0, bool)
        verifiers = range(1, len(self.models))
        v_ids = [self.models[v].vocab.tokenize(full[:limit]) for v in verifiers]
        v_ends = [token_ends(self.models[v].vocab.piece_len, ids) for v, ids in zip(verifiers, v_ids)]
        cands = candidate_positions(starts_d, v_ends, limit, zero_len=zero_len)
        n_draft = len(draft.ids)
        eos = bool(n_draft and dv.eog_mask[draft.ids[-1]])
        # Exact early acceptance: where the drafter's weighted share alone passes C2, no verifier can
        # change the decision, so those positions need no verifier row. A verifier asked for no row
        # decodes nothing now; its cache catches up in one batch when a row is next needed.
        checked = len(cands)
        cands = np.array([j for j in cands if not drafter_decides(
            _aligned_view(self.models[0], draft.logits[j], draft.ids[j])[0], self.weights, c.consensus_threshold)],
            dtype=np.int64)
        self.stats.checked += checked
        self.stats.drafter_decided += checked - len(cands)
        if len(cands) == 0:
            return n_draft, [], eos

        # One batched forward pass per verifier, logits only where a candidate's aligned token is predicted.
        offsets = starts_d[cands]
        v_rows, v_aligned = [], []
        for vi, v in enumerate(verifiers):
            starts_v = v_ends[vi] - self.models[v].vocab.piece_len[v_ids[vi]] if len(v_ids[vi]) else v_ends[vi]
            idx = aligned_indices(starts_v, offsets, limit)
            assert (idx >= 0).all(), "a candidate offset is a boundary of every verifier"
            prompt_v = self.prompts[v]
            target = prompt_v + v_ids[vi]
            positions = sorted(set(int(len(prompt_v) + i - 1) for i in idx))
            self.room(v, positions[-1] + 1)
            logits = self.evaluate(v, target, positions)
            row_of = {p: r for r, p in enumerate(positions)}
            v_rows.append([logits[row_of[int(len(prompt_v) + i - 1)]] for i in idx])
            v_aligned.append([int(v_ids[vi][i]) if i < len(v_ids[vi]) else -1 for i in idx])

        use_c1 = c.temperature == 0
        for ci, j in enumerate(cands):
            j = int(j)
            logits = [draft.logits[j]] + [rows[ci] for rows in v_rows]
            aligned = [draft.ids[j]] + [a[ci] for a in v_aligned]
            views = [_aligned_view(self.models[m], logits[m], aligned[m]) for m in range(len(self.models))]
            probs = np.array([p for p, _ in views])
            agrees = np.array([a for _, a in views[1:]])
            cons = check(probs, agrees, self.weights, use_c1=use_c1)
            if cons.c1 and use_c1 or cons.c2 > c.consensus_threshold:
                continue
            dist = self.union(logits)
            chosen, sharpened, scores = self.choose(dist, drafted_key=dv.key(draft.ids[j]))
            tokens = [dv.key(draft.ids[j])] + [
                EOG_KEY if a < 0 else self.models[m].vocab.key(a) for m, a in enumerate(aligned) if m > 0
            ]
            self.report(int(starts_d[j]), full, tokens[0], dist, chosen, sharpened, scores, cons, tokens, views)
            if chosen == dv.key(draft.ids[j]):
                continue  # the ensemble confirmed the drafted token: the tokens after it stay valid
            if chosen == EOG_KEY:
                return j, [], True
            own = dv.id_of(chosen)
            return j, [own] if own is not None else dv.tokenize(chosen), False
        return n_draft, [], eos

    def union(self, logits: Sequence[np.ndarray]) -> UnionDistribution:
        base = self.config.base if self.config.method == "safe" else self.config.method
        if base == "gac":
            return self.engine.gac_union.distribution(logits, self.weights)
        return unite_union(logits, [m.vocab for m in self.models], self.weights, self.config.top_k)

    def choose(self, dist: UnionDistribution, drafted_key: bytes | None) -> tuple[bytes, str | None, np.ndarray]:
        """Pick the ensemble's string: sharpened argmax, or App. H speculative sampling.

        With a drafter (SAFE), the string must be one the drafter can continue from: its own
        piece, or whole UTF-8 characters it can tokenize. A lone byte of a character from
        another model's byte-level vocabulary would come back from the drafter's tokenizer as
        U+FFFD, so such strings lose their mass before the choice.
        """
        c = self.config
        scores, applied = sharpen(dist, c.sharpening, dist.proposed[0], c.sharpen_lambda)
        p = scores / scores.sum()
        if drafted_key is not None:
            for i in top_indices(p, 32):
                if self.drafter_can_take(dist.strings[i]):
                    break
                p[i] = 0.0
            p = p / p.sum() if p.sum() > 0 else scores / scores.sum()
        if c.temperature == 0:
            idx = int(np.argmax(p))
        elif drafted_key is not None and drafted_key in dist.strings:
            idx, _ = accept_or_resample(p, dist.per_model[0], dist.strings.index(drafted_key), self.rng)
        else:
            idx = self.sample(np.log(np.maximum(p, 1e-30)))
        return dist.strings[idx], (c.sharpening if applied else None), p

    def drafter_can_take(self, s: bytes) -> bool:
        if s == EOG_KEY or self.models[0].vocab.id_of(s) is not None:
            return True
        try:
            s.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def report(self, offset: int, full: bytes, drafted: bytes, dist: UnionDistribution, chosen: bytes,
               sharpened: str | None, scores: np.ndarray, cons, tokens: list[bytes],
               views: list[tuple[float, bool]]) -> None:
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
                c1=None if cons is None else bool(cons.c1),
                c2=None if cons is None else float(cons.c2),
                weights=[float(w) for w in self.weights],
                sharpening=sharpened,
                models=models,
                top=top,
            )
        )

    # --- every-token baselines ------------------------------------------------------------

    def run_unite(self) -> Iterator[None]:
        return self._run_pushed(always=True)

    def run_gac(self) -> Iterator[None]:
        return self._run_pushed(always=False)

    def _run_pushed(self, always: bool) -> Iterator[None]:
        """UniTE (every token) or GaC (when the drafter is unsure); chosen strings pushed into every model."""
        c = self.config
        k = len(self.models)
        seqs = [list(p) for p in self.prompts]
        self.unpushed = [b""] * k
        d = self.models[0].vocab
        start = [len(p) for p in self.prompts]
        while len(seqs[0]) - start[0] < c.max_tokens:
            self.check_cancel()
            for m in range(k):
                self.room(m, len(seqs[m]))
            d_logits = self.evaluate(0, seqs[0], [len(seqs[0]) - 1])[0]
            self.stats.cycles += 1
            if not always:
                if _max_prob(d_logits) >= c.gac_threshold:
                    tok = self.sample(d_logits)
                    if d.eog_mask[tok]:
                        raise _Stop("eos")
                    self.push(seqs, d.key(tok), drafter_ids=[tok])
                    yield
                    continue
            logits = [d_logits] + [self.evaluate(m, seqs[m], [len(seqs[m]) - 1])[0] for m in range(1, k)]
            dist = self.union(logits)
            chosen, _, scores = self.choose(dist, drafted_key=None)
            tops = [dist.strings[int(np.argmax(row))] for row in dist.per_model]
            views = [_string_view(dist, m, chosen) for m in range(k)]
            self.report(len(self.data), self.data, tops[0], dist, chosen, None, scores, None, tops, views)
            if chosen == EOG_KEY:
                raise _Stop("eos")
            self.push(seqs, chosen)
            yield

    def push(self, seqs: list[list[int]], piece: bytes, drafter_ids: list[int] | None = None) -> None:
        """Append a chosen string to every model's sequence.

        Models tokenize only whole UTF-8 characters, so a string ending inside one waits in
        `self.unpushed` until the rest arrives; the drafter takes its own ids when it chose.
        A string that would take the drafter past max_tokens ends the reply instead.
        """
        staged = []
        for m, model in enumerate(self.models):
            if m == 0 and drafter_ids is not None and not self.unpushed[0]:
                staged.append((drafter_ids, b""))
                continue
            buf = self.unpushed[m] + piece
            n = complete_utf8_len(buf)
            staged.append((model.vocab.tokenize(buf[:n]), buf[n:]))
        if len(seqs[0]) - len(self.prompts[0]) + len(staged[0][0]) > self.config.max_tokens:
            raise _Stop("length")
        for m, (ids, rest) in enumerate(staged):
            seqs[m].extend(ids)
            self.unpushed[m] = rest
        self.stats.tokens = len(seqs[0]) - len(self.prompts[0])
        self.accept(self.data + piece)


def _log_normalizer(logits: np.ndarray) -> tuple[float, float]:
    """(max, log-sum-exp) of a logits row, without materializing its softmax."""
    top = float(logits.max())
    return top, top + float(np.log(np.exp(logits - top).sum(dtype=np.float64)))


def _max_prob(logits: np.ndarray) -> float:
    top, lse = _log_normalizer(logits)
    return float(np.exp(top - lse))


def _aligned_view(model: Model, logits: np.ndarray, token: int) -> tuple[float, bool]:
    """(probability of the aligned token, whether it is the model's argmax); token -1 = end of generation."""
    vocab = model.vocab
    _, lse = _log_normalizer(logits)
    best = int(np.argmax(logits))
    if token < 0 or vocab.eog_mask[token]:
        return float(np.exp(logits[np.asarray(vocab.eog_ids, dtype=np.int64)] - lse).sum()), bool(vocab.eog_mask[best])
    return float(np.exp(logits[token] - lse)), best == token


def _string_view(dist: UnionDistribution, m: int, chosen: bytes) -> tuple[float, bool]:
    row = dist.per_model[m]
    i = dist.strings.index(chosen)
    return float(row[i]), int(np.argmax(row)) == i
