"""The interface between the engine and a loaded model.

A model owns one KV cache holding a token sequence. `evaluate(target, positions)` is the one
primitive: it makes the cache hold a prefix of `target` (keeping the longest common prefix of
what is cached, dropping the rest, decoding the missing tokens in batches) and returns logits
only at the requested positions. Drafting one token, verifying a chunk in one batch, rolling
back after an ensemble and reusing a chat prompt's cache across turns are all this one call.
Sampling, alignment and everything SAFE-specific stay out of here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from safe_local.core import Vocab
from safe_local.errors import SafeLocalError


class ContextFullError(SafeLocalError):
    """The token sequence no longer fits the model's context window."""


# {"role": "system"|"user"|"assistant", "content": str}; also {"role": "tool", "content": str} and
# an assistant turn with OpenAI's "tool_calls" (safe_local.backend.chat_template renders both), and
# [{"role": "raw", "content": str}]: a prompt continued as it is, with no chat template.
Message = dict


class Model(Protocol):
    name: str
    path: Path  # the GGUF file (also where a placed model's weights come from)
    n_ctx: int
    vocab: Vocab
    n_decoded: int  # tokens decoded so far (cumulative), for statistics

    @property
    def cached_tokens(self) -> list[int]: ...

    def prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> list[int]: ...

    def tokenize(self, text: bytes, special: bool = False) -> list[int]: ...

    def evaluate(self, target: Sequence[int], positions: Sequence[int]) -> np.ndarray: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n
