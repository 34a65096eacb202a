"""What the chat keeps with an assistant message: ensemble events and the reply's figures.

EnsembleEvent is turned into a JSON-ready dict and back, so the inspector works on a
conversation reloaded from the history exactly as on a live one. `reply_meta` is the metadata
dict stored with an assistant message (its events and the GenerationResult's statistics); the
status line of a reloaded conversation reads it back with `ReplyFigures`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from safe_local import EnsembleEvent, GenerationResult, ModelView, SpeculativeTest


def event_to_dict(event: EnsembleEvent) -> dict[str, Any]:
    return asdict(event)


def event_from_dict(data: Mapping[str, Any]) -> EnsembleEvent:
    fields = dict(data)
    fields["models"] = [
        ModelView(**{**m, "top": [tuple(t) for t in m["top"]]}) for m in fields["models"]
    ]
    fields["top"] = [tuple(t) for t in fields["top"]]
    if fields.get("test") is not None:  # absent in conversations saved before sampled SAFE had a test
        fields["test"] = SpeculativeTest(**fields["test"])
    return EnsembleEvent(**fields)


@dataclass(frozen=True)
class ReplyFigures:
    """The numbers the status line shows for a finished reply."""

    models: list[str]
    drafter: str
    method: str  # "safe/unite", "single", ...
    tokens: int
    prompt_tokens: int
    tokens_per_s: float
    ensemble_rate: float
    stop_reason: str

    @property
    def ensembled(self) -> int:
        """Ensembled positions (the rate is ensembled / tokens, so this gives the count back)."""
        return round(self.ensemble_rate * self.tokens)

    @classmethod
    def from_result(cls, result: GenerationResult) -> ReplyFigures:
        s = result.stats
        return cls(
            models=list(result.models),
            drafter=result.drafter,
            method=result.method + (f"/{result.base}" if result.base else ""),
            tokens=s.tokens,
            prompt_tokens=s.prompt_tokens,
            tokens_per_s=s.tokens_per_s,
            ensemble_rate=s.ensemble_rate,
            stop_reason=result.stop_reason,
        )

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ReplyFigures | None:
        figures = meta.get("figures")
        return cls(**figures) if figures else None


def reply_meta(events: Sequence[EnsembleEvent], figures: ReplyFigures | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"events": [event_to_dict(e) for e in events]}
    if figures is not None:
        meta["figures"] = asdict(figures)
    return meta


def events_from_meta(meta: Mapping[str, Any]) -> list[EnsembleEvent]:
    return [event_from_dict(e) for e in meta.get("events", [])]
