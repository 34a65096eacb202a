"""What a generation reports: streamed events, statistics and the final result.

Plain dataclasses with no behaviour beyond derived figures, so the CLI, the Python API and the
chat UI's inspector all read the same records. Token strings are given as text (bytes decoded
with U+FFFD for an incomplete UTF-8 piece) because every consumer displays them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


def piece_text(piece: bytes) -> str:
    """A token string for display; the end-of-generation key shows as <eog>."""
    from safe_local.core import EOG_KEY

    return "<eog>" if piece == EOG_KEY else piece.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class TextDelta:
    """New reply text, never splitting a UTF-8 character."""

    text: str


@dataclass(frozen=True)
class ModelView:
    """One model at an ensembled position."""

    name: str
    token: str  # its aligned token (for the drafter: the drafted token)
    prob: float  # its probability of that token
    agrees: bool  # its own argmax is that token
    top: list[tuple[str, float]]  # its best candidates over the ensemble's union


@dataclass(frozen=True)
class TokenLogprob:
    """One emitted piece of the reply and its log-probability under the distribution it was chosen
    from: the drafter's where it decided (greedy: its softmax; sampled: its sampler's), the
    ensemble's where the models were ensembled (greedy: the sharpened ensemble; sampled: P*).
    An ensembled string may span several of the drafter's tokens."""

    token: str
    bytes: list[int]
    logprob: float
    top: list[tuple[str, list[int], float]]  # the likeliest alternatives (token, bytes, logprob), best first
    source: str  # "drafter" or "ensemble"


@dataclass(frozen=True)
class Logprobs:
    """The log-probabilities of the pieces just accepted into the reply (asked for with top_logprobs)."""

    entries: list[TokenLogprob]


@dataclass(frozen=True)
class SpeculativeTest:
    """The acceptance test of a sampled SAFE position (safe_local.core.speculative)."""

    u: float  # the uniform draw
    target: float  # P*(t): the target's probability of the drafted string
    proposal: float  # q(t): the drafter's sampler probability of it, the proposal
    kept: bool  # u * q(t) <= P*(t): the drafted string stood


@dataclass(frozen=True)
class EnsembleEvent:
    """A position where the models were ensembled, with everything that decided it."""

    index: int  # ensembles so far in this reply, from 0
    offset: int  # byte offset of the position in the reply
    char_offset: int  # the same in characters
    drafted: str  # what the drafter proposed ("" for methods without a drafter)
    chosen: str  # what the ensemble put there
    replaced: bool  # chosen differs from drafted
    base: str  # "unite" or "gac"
    c1: bool | None  # every verifier's argmax equals its aligned token (None: not checked)
    c2: float | None  # weighted mean probability of the aligned tokens (None: not used)
    weights: list[float]
    sharpening: str | None  # the sharpening applied ("heuristic"/"geometric"), None if not
    models: list[ModelView]
    top: list[tuple[str, float]]  # the ensemble's best candidates (after sharpening)
    test: SpeculativeTest | None = None  # sampled SAFE: the acceptance test that decided the position
    # What c2 was held against: the generation's consensus_threshold (None: c2 not used, or an
    # event stored before events carried it).
    c2_threshold: float | None = None


@dataclass
class ModelStats:
    name: str
    decode_calls: int = 0
    tokens: int = 0  # tokens decoded (prompt and re-decoded ones included)
    seconds: float = 0.0


@dataclass
class GenerationStats:
    tokens: int = 0  # new tokens of the reply (drafter's tokens; the single model's for `single`)
    prompt_tokens: int = 0
    cycles: int = 0
    ensembled: int = 0
    drafted: int = 0
    accepted: int = 0
    rejected: int = 0
    checked: int = 0  # candidate positions (stable for every model) that SAFE checked for consensus
    drafter_decided: int = 0  # of those, positions the drafter's weighted share alone passed (no verifier row)
    verifier_rows_saved: int = 0  # logits rows a verifier did not compute: the cheaper ones had passed C2
    verifiers_unsure: int = 0  # positions without consensus kept because no verifier was sure (verifier_confidence)
    seconds: float = 0.0
    constraint_seconds: float = 0.0  # of those, computing and applying a JSON schema's or grammar's masks
    models: list[ModelStats] = field(default_factory=list)

    @property
    def ensemble_rate(self) -> float:
        """E/T: ensembled positions per generated token."""
        return self.ensembled / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return asdict(self) | {"ensemble_rate": self.ensemble_rate, "tokens_per_s": self.tokens_per_s}


@dataclass
class GenerationResult:
    text: str
    method: str
    models: list[str]
    drafter: str
    stop_reason: str  # "eos" | "length" | "stop" | "loop" | "context" | "cancelled"
    stats: GenerationStats
    message: str = ""  # why it stopped, when that is worth saying (context full)
    base: str | None = None
    logprobs: list[TokenLogprob] | None = None  # when asked for (top_logprobs)

    def to_dict(self) -> dict:
        s = self.stats
        return {
            "text": self.text,
            "method": self.method,
            "base": self.base,
            "models": self.models,
            "drafter": self.drafter,
            "stop_reason": self.stop_reason,
            "message": self.message,
            "tokens": s.tokens,
            "prompt_tokens": s.prompt_tokens,
            "ensembled": s.ensembled,
            "ensemble_rate": s.ensemble_rate,
            "cycles": s.cycles,
            "drafted": s.drafted,
            "accepted": s.accepted,
            "rejected": s.rejected,
            "checked": s.checked,
            "drafter_decided": s.drafter_decided,
            "verifiers_unsure": s.verifiers_unsure,
            "seconds": s.seconds,
            "constraint_seconds": s.constraint_seconds,
            "tokens_per_s": s.tokens_per_s,
            "per_model": [asdict(m) for m in s.models],
        }


@dataclass(frozen=True)
class Done:
    result: GenerationResult


Event = TextDelta | EnsembleEvent | Logprobs | Done
