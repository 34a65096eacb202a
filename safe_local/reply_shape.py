"""What a caller asks of a reply beyond the generation options: the shape it must take and what
it must carry.

`ReplyShape` travels unchanged from the API or the server to the run: a constraint (a JSON
schema or grammar, safe_local.grammar), the tools every model's prompt describes
(safe_local.backend.chat_template), and how many alternatives to record with each emitted
piece's log-probability (None: none are recorded), and the most tokens prompt and reply may take
together (ollama's num_ctx; None: each model's own context, safe_local.server.job reads it).
Left out: what the runs do with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from safe_local.grammar import Grammar


@dataclass(frozen=True)
class ReplyShape:
    grammar: Grammar | None = None
    tools: Sequence[dict] | None = None
    top_logprobs: int | None = None
    context: int | None = None


FREE = ReplyShape()  # free text, no tools, no log-probabilities
