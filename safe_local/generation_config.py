"""Generation options: what a call may ask of the engine, and the checks that keep bad values out.

`GenerationConfig` holds every option of every method with its default; `check_types` and
`validate` turn a wrong type or range (from a flag, a config file or a keyword) into a one-line
SafeLocalError before any model is touched. Left out: running anything (safe_local.engine),
and the user's config file (safe_local.config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from safe_local.core import Penalizer, Vocab, normalize_weights
from safe_local.core.sharpening import MODES as SHARPENING_MODES
from safe_local.errors import SafeLocalError

METHODS = ("single", "safe", "unite", "gac")
BASES = ("unite", "gac")
SHARPENING = SHARPENING_MODES  # the core's list: one place for the modes


# The type each option's value must have. Checked before the ranges, so a "six" or a 2.5 from a
# config file or a keyword gives a one-line error instead of a TypeError deep in a generation.
_WHOLE_NUMBERS = ("max_tokens", "top_k", "single_model", "repeat_last_n", "dry_allowed_length", "dry_penalty_last_n")
AUTO = "auto"
# `chunk = "auto"`: SAFE's draft length adapts (see safe_local.runs.safe.ChunkLength).
CHUNK_START, CHUNK_MIN, CHUNK_MAX = 5, 2, 16
_NUMBERS = ("temperature", "top_p", "sharpen_lambda", "consensus_threshold", "gac_threshold", "min_p", "verifier_confidence",
            "repeat_penalty", "presence_penalty", "frequency_penalty", "dry_multiplier", "dry_base")
# Options added after evaluation results were stored; at their defaults they change nothing, so
# the evaluation's settings hash leaves them out there (safe_local.evaluation.methods).
SAMPLER_OPTIONS = ("min_p", "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty",
                   "dry_multiplier", "dry_base", "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers")
# Ensemble options added after results were stored, likewise left out of the hash at their defaults.
LATER_OPTIONS = ("verifier_confidence", "verifier_beats_drafter")
# llama.cpp's DRY sequence breakers (common/common.h).
DRY_BREAKERS = ("\n", ":", "\"", "*")
# `drafter_gate = "auto"`: the authors' gate for base gac (gac_threshold), none for base unite.
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
    seed: int | None = None  # None (or -1, llama.cpp's spelling): a fresh random seed per reply
    weights: Sequence[float] | None = None  # per model, drafter first; None: equal
    stop: Sequence[str] = ()
    stop_loops: bool = False  # end the reply (stop reason "loop") once it repeats itself; see loop_guard
    sharpening: str = "heuristic"
    sharpen_lambda: float = 0.1
    top_k: int = 10  # UniTE union size per model
    consensus_threshold: float = 0.5  # C2 passes when the weighted mean exceeds this
    gac_threshold: float = 0.5  # `gac`: ensemble when the drafter's max prob is below this
    # `safe`: ensemble a position without consensus only where the drafter's probability of its
    # token is below this (1: always); "auto" is the authors' choice per base (see gate()).
    drafter_gate: float | str = AUTO
    # `safe`: ensemble a position without consensus only where some verifier gives its own most
    # likely token at least this (CoSD's rule; 0: off), and with verifier_beats_drafter, more than
    # the drafter gives its own (consensus.verifiers_sure).
    verifier_confidence: float = 0.0
    verifier_beats_drafter: bool = False
    single_model: int = 0  # `single`: which model
    # Sampling cut and repetition penalties, with llama.cpp's names and meanings. Each model's
    # logits are penalized in its own token space, given its own ids of the prompt and the reply
    # so far (as llama.cpp's server feeds the prompt through its samplers), before anything reads
    # them: sampling, SAFE's consensus and acceptance, the unions. All off by default.
    min_p: float = 0.0  # keep tokens at least min_p times as likely as the best (0: off; sampling only)
    repeat_penalty: float = 1.0  # divide a repeated token's positive logit by this (1: off)
    repeat_last_n: int = 64  # tokens the repeat, presence and frequency penalties look back (-1: all, 0: off)
    presence_penalty: float = 0.0  # subtracted once from a repeated token's logit
    frequency_penalty: float = 0.0  # subtracted per occurrence
    dry_multiplier: float = 0.0  # DRY: a token extending a repeat of n tokens loses m * base^(n - allowed) (0: off)
    dry_base: float = 1.75
    dry_allowed_length: int = 2  # repeats this long go unpunished
    dry_penalty_last_n: int = -1  # tokens DRY looks back (-1: all, 0: off)
    dry_sequence_breakers: Sequence[str] = DRY_BREAKERS  # a repeat counts back only to the last of these

    def __post_init__(self) -> None:
        if self.seed == -1 and not isinstance(self.seed, bool):
            object.__setattr__(self, "seed", None)
        if isinstance(self.stop, str):  # one stop string (as llama.cpp and OpenAI read it), not its characters
            object.__setattr__(self, "stop", (self.stop,))
        breakers = self.dry_sequence_breakers
        if isinstance(breakers, str):
            object.__setattr__(self, "dry_sequence_breakers", (breakers,))
        elif isinstance(breakers, list):  # a list from JSON or TOML is the same breakers as the default tuple
            object.__setattr__(self, "dry_sequence_breakers", tuple(breakers))

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
        if self.drafter_gate != AUTO and not _is_number(self.drafter_gate):
            raise SafeLocalError(f"drafter_gate must be a number or \"auto\", got {self.drafter_gate!r}")
        if self.seed is not None and not _is_whole(self.seed):
            raise SafeLocalError(f"seed must be a whole number, got {self.seed!r}")
        for name in ("stop_loops", "verifier_beats_drafter"):
            if not isinstance(getattr(self, name), bool):
                raise SafeLocalError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.stop, (list, tuple)) or not all(isinstance(x, str) for x in self.stop):
            raise SafeLocalError(f"stop must be a string or a list of strings, got {self.stop!r}")
        breakers = self.dry_sequence_breakers
        if not isinstance(breakers, tuple) or not all(isinstance(x, str) and x for x in breakers):
            raise SafeLocalError(f"dry_sequence_breakers must be a list of non-empty strings, got {breakers!r}")
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
        if not isinstance(self.chunk, str) and self.chunk < 1:  # a str is AUTO (check_types)
            raise SafeLocalError(f"chunk length must be at least 1, got {self.chunk}")
        if self.max_tokens < 1:
            raise SafeLocalError(f"max tokens must be at least 1, got {self.max_tokens}")
        if self.seed is not None and self.seed < 0:
            raise SafeLocalError(f"seed must be 0 or more (or -1 / absent for a random one), got {self.seed}")
        if self.temperature < 0:
            raise SafeLocalError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise SafeLocalError(f"top-p must be in (0, 1], got {self.top_p}")
        if not isinstance(self.drafter_gate, str) and not 0 < self.drafter_gate <= 1:  # a str is AUTO
            raise SafeLocalError(f"drafter gate must be in (0, 1] (1: no gate), got {self.drafter_gate}")
        if not 0 <= self.verifier_confidence <= 1:
            raise SafeLocalError(f"verifier confidence must be in [0, 1] (0: off), got {self.verifier_confidence}")
        if self.top_k < 1:
            raise SafeLocalError(f"top-k must be at least 1, got {self.top_k}")
        self._validate_penalties()
        if self.method != "single":  # one model answers alone: weights do not apply
            try:
                normalize_weights(self.weights, k)
            except ValueError as e:
                raise SafeLocalError(f"bad weights: {e}") from None

    def _validate_penalties(self) -> None:
        ranges = [
            ("min_p", 0 <= self.min_p <= 1, "in [0, 1] (0: off)"),
            ("repeat_penalty", self.repeat_penalty > 0, "> 0 (1: off)"),
            ("presence_penalty", -2 <= self.presence_penalty <= 2, "in [-2, 2] (0: off)"),
            ("frequency_penalty", -2 <= self.frequency_penalty <= 2, "in [-2, 2] (0: off)"),
            ("dry_multiplier", self.dry_multiplier >= 0, ">= 0 (0: off)"),
            ("dry_base", self.dry_base >= 1, ">= 1"),
            ("dry_allowed_length", self.dry_allowed_length >= 1, "at least 1"),
        ]
        ranges += [(name, getattr(self, name) >= -1, "-1 (all), 0 (off) or a number of tokens")
                   for name in ("repeat_last_n", "dry_penalty_last_n")]
        for name, ok, valid in ranges:
            if not ok or not np.isfinite(getattr(self, name)):
                raise SafeLocalError(f"{name} must be {valid}, got {getattr(self, name)}")

    def penalizer(self, vocab: Vocab) -> Penalizer | None:
        """The repetition penalties of one model (its vocabulary), or None when they are all off."""
        penalizer = Penalizer(vocab, **{name: getattr(self, name) for name in SAMPLER_OPTIONS if name != "min_p"})
        return penalizer if penalizer.active else None

    def gate(self) -> float:
        """SAFE's drafter gate: positions where the drafter's probability is at least this are
        kept without ensembling (>= 1: no gate).

        "auto" follows the authors' released code: GaC + SAFE ensembles only where the drafter's
        probability is below 0.5 (gac_threshold), UniTE + SAFE has no gate.
        """
        if self.drafter_gate != AUTO:
            return float(self.drafter_gate)
        return float(self.gac_threshold) if self.base == "gac" else 1.0
