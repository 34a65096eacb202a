"""The status line under the chat: models (drafter marked), method, speed, E/T and context use.

It shows the ensemble that is loaded (or loading), the conversation's method, and the figures of
the last finished reply (with why it ended, when the models did not end it); while a reply
streams it says so instead of showing a stale speed. E/T is a count on short replies ("3 of 7
tokens") and a percentage on longer ones. Rendering is a pure function of `StatusInfo`, so a snapshot of it never contains timings unless
a reply has finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from tui.records import ReplyFigures

DRAFTER_MARK = "✎"
# Below this many tokens the status line gives E/T as a count ("3 of 7 tokens"): one token then
# moves the rate by more than 2 points and, at the 20-45 % rates replies have, the rate's sampling
# error is over ±6 points, so a percentage would claim a precision it does not have (and 43 %
# of a 7-token "Hello!" looks alarming). Above it the percentage reads faster and means something.
COUNT_BELOW_TOKENS = 50
# Why the last reply ended, where it did not end by itself or by the user's Esc.
_CUT_SHORT = {"length": "token limit", "loop": "loop stopped", "context": "context full"}


@dataclass(frozen=True)
class StatusInfo:
    models: tuple[str, ...] = ()  # drafter first
    loading: bool = False
    method: str = ""
    generating: bool = False
    figures: ReplyFigures | None = None
    n_ctx: int = 0


def ensemble_share(f: ReplyFigures) -> str:
    """How much of the reply the models voted on: a count for short replies, else a percentage."""
    if f.tokens < COUNT_BELOW_TOKENS:
        return f"{f.ensembled} of {f.tokens} token{'' if f.tokens == 1 else 's'}"
    return f"{f.ensemble_rate:.0%} ({f.tokens} tok)"


def status_content(info: StatusInfo) -> Content:
    if info.loading:
        models = Content.from_markup("[$warning]loading $names…[/]", names=", ".join(info.models) or "models")
    elif not info.models:
        models = Content.from_markup("[$error]no models loaded[/] (ctrl+l to choose)")
    else:
        drafter, *others = info.models
        models = Content.assemble((f"{DRAFTER_MARK} {drafter}", "bold"), *[f" · {m}" for m in others])
    parts = [models, Content(info.method or "—")]
    f = info.figures
    if info.generating:
        parts.append(Content.from_markup("[$accent]generating…[/] esc stops"))
    elif f is not None:
        parts += [
            Content(f"{f.tokens_per_s:.1f} tok/s"),
            Content(f"E/T {ensemble_share(f)}"),
        ]
        if f.stop_reason in _CUT_SHORT:
            parts.append(Content.from_markup("[$warning]$why[/]", why=_CUT_SHORT[f.stop_reason]))
    else:
        parts += [Content("— tok/s"), Content("E/T —")]
    if info.n_ctx:
        used = f.prompt_tokens + f.tokens if f is not None else 0
        parts.append(Content(f"ctx {used}/{info.n_ctx}"))
    return Content(" │ ").join(parts)


class StatusLine(Static):
    def show(self, info: StatusInfo) -> None:
        self.update(status_content(info))
