"""Per-conversation generation settings: what the chat stores and passes to Ensemble.stream.

`ChatSettings` is plain data (no Textual): it round-trips through the JSON dict kept with each
conversation in the history, takes its defaults from GenerationConfig with the chat's measured
sampling defaults (safe_local.chat_defaults) over them (tui.catalog lays a preset's options and
the user's `[chat]` table over those), and turns into the keyword options
of `Ensemble.stream`. Checking the values against an ensemble goes through the engine's own
GenerationConfig.validate, so the rules live in one place. The model files themselves are
resolved by the API/store, not here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from safe_local import GenerationConfig
from safe_local.chat_defaults import CHAT_SAMPLING
from safe_local.generation_config import SAMPLER_OPTIONS

_ENGINE = GenerationConfig(**CHAT_SAMPLING)  # the engine's defaults, sampling as a chat wants it
# A chat reply is read, not benchmarked: a shorter default keeps a small laptop responsive.
CHAT_MAX_TOKENS = 512
# Tiny models often fall into a loop and repeat it to the token limit; in a chat that is only
# waiting, so the chat ends such replies unless the user turns it off (a reply asked to repeat
# something is the price, and the chat says why it stopped).
CHAT_STOP_LOOPS = True


@dataclass
class ChatSettings:
    models: list[str] = field(default_factory=list)  # specs, drafter first; empty: the preset or the default
    preset: str | None = None
    method: str = _ENGINE.method
    base: str = _ENGINE.base
    chunk: int | str = _ENGINE.chunk  # a whole number or "auto"
    weights: list[float] | None = None
    sharpening: str = _ENGINE.sharpening
    temperature: float = _ENGINE.temperature
    top_p: float = _ENGINE.top_p
    min_p: float = _ENGINE.min_p
    repeat_penalty: float = _ENGINE.repeat_penalty
    repeat_last_n: int = _ENGINE.repeat_last_n
    presence_penalty: float = _ENGINE.presence_penalty
    frequency_penalty: float = _ENGINE.frequency_penalty
    dry_multiplier: float = _ENGINE.dry_multiplier
    dry_base: float = _ENGINE.dry_base
    dry_allowed_length: int = _ENGINE.dry_allowed_length
    dry_penalty_last_n: int = _ENGINE.dry_penalty_last_n
    dry_sequence_breakers: list[str] = field(default_factory=lambda: list(_ENGINE.dry_sequence_breakers))
    seed: int | None = None
    max_tokens: int = CHAT_MAX_TOKENS
    stop_loops: bool = CHAT_STOP_LOOPS
    system: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], defaults: ChatSettings | None = None) -> ChatSettings:
        """Settings from a stored dict; keys it lacks come from `defaults`, unknown keys are ignored."""
        base = dataclasses.asdict(defaults or cls())
        known = {f.name for f in dataclasses.fields(cls)}
        base.update({k: v for k, v in data.items() if k in known})
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stream_options(self) -> dict[str, Any]:
        """Keyword arguments for Ensemble.stream (everything but the models and the system prompt)."""
        return {
            "method": self.method,
            "base": self.base,
            "chunk": self.chunk,
            "weights": list(self.weights) if self.weights else None,
            "sharpening": self.sharpening,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "stop_loops": self.stop_loops,
            **{name: getattr(self, name) for name in SAMPLER_OPTIONS},
        }

    def validate(self, n_models: int) -> None:
        """Raise SafeLocalError if the engine would refuse these settings for n_models models."""
        GenerationConfig(**self.stream_options()).validate(n_models)

    @property
    def method_label(self) -> str:
        return f"{self.method}/{self.base}" if self.method == "safe" else self.method


def unknown_keys(table: Mapping[str, Any]) -> list[str]:
    """Keys of a `[chat]` config table that are not settings (reported to the user)."""
    known = {f.name for f in dataclasses.fields(ChatSettings)}
    return sorted(set(table) - known)
