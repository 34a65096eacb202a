"""Where a reply's ensembled positions land in its rendered Markdown, and how they are marked.

The engine reports each ensembled position by its character offset in the reply's source text.
Rendering Markdown drops the syntax (`**`, list markers, fences, table pipes), collapses blank
space and spreads the text over separate pieces: paragraphs, headings, list items, table cells,
code blocks. `place` aligns each rendered piece (a `Leaf`: its plain text and the source lines
of its block) with the source, in document order, and returns for every leaf the rendered
ranges of the positions in it, and, for a position that renders as nothing (a line break,
Markdown syntax, the end of the reply), where a glyph stands for it. `mark` styles a leaf's
Content accordingly, each position carrying its index as `vote` in the style's meta (so a click
can find it). No widgets here: tui.token_view renders the Markdown and applies the result.

The alignment is greedy and linear: rendered characters are matched in order against the
source from the start of the leaf's block (past its list, quote, heading or fence markers), any
blank matching any blank. Text the renderer adds (an image's 🖼) stays unmatched; a syntax
character that equals the next rendered one (a link's URL) can pull a mark a few characters off.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Sequence

from textual.content import Content
from textual.style import Style

from safe_local import EnsembleEvent

EOG_TEXT = "<eog>"
EOG_MARK = "∎"  # an ensembled end of the reply
BREAK_MARK = "↵"  # an ensembled line break that renders as no character
SYNTAX_MARK = "◆"  # an ensembled piece of Markdown syntax (`**`, `-`, a fence…)

# What opens a block's first line before its text: indentation, quote markers, a list marker, a
# heading's hashes; a fence's whole opening line.
_BLOCK_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?(?:#{1,6}[ \t]+)?")
_FENCE_LINE = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*(?:`{3,}|~{3,})[^\n]*\n?")


@dataclass(frozen=True)
class Leaf:
    """One rendered piece of the reply: its plain text and its block's source lines [start, end)."""

    text: str
    lines: tuple[int, int]


@dataclass
class Placed:
    """The ensembled positions in one leaf: styled ranges and glyphs, by event index."""

    spans: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, event) in the leaf's text
    marks: list[tuple[int, int]] = field(default_factory=list)  # (position, event): a glyph goes there


def token_span(text: str, event: EnsembleEvent) -> tuple[int, int]:
    """Where an ensembled position's chosen string sits in the reply text, clamped to it."""
    start = min(event.char_offset, len(text))
    length = 0 if event.chosen == EOG_TEXT else len(event.chosen)
    return start, min(start + length, len(text))


def glyph(event: EnsembleEvent) -> str:
    if event.chosen == EOG_TEXT:
        return EOG_MARK
    return BREAK_MARK if "\n" in event.chosen else SYNTAX_MARK


def _line_offsets(source: str) -> list[int]:
    """Where each line starts, and the end of the source (the start of the line after the last)."""
    return [0, *(m.end() for m in re.finditer("\n", source)), len(source)]


def _text_start(source: str, offset: int) -> int:
    """Where the text of a block whose first line starts at `offset` begins."""
    fence = _FENCE_LINE.match(source, offset)
    if fence is not None:
        return fence.end()
    prefix = _BLOCK_PREFIX.match(source, offset)
    return prefix.end() if prefix is not None else offset


def align(source: str, lo: int, hi: int, rendered: str) -> list[int | None]:
    """The source offset of each rendered character, matched in order within source[lo:hi]."""
    offsets: list[int | None] = []
    p = lo
    for ch in rendered:
        blank = ch.isspace()
        q = p
        while q < hi and not (source[q] == ch or (blank and source[q].isspace())):
            q += 1
        if q < hi:
            offsets.append(q)
            p = q + 1
        else:
            offsets.append(None)  # not in the source (added by the renderer)
    return offsets


def place(source: str, events: Sequence[EnsembleEvent], leaves: Sequence[Leaf]) -> list[Placed]:
    """Each leaf's share of the ensembled positions of `source` (see the module docstring)."""
    lines = _line_offsets(source)
    where: dict[int, tuple[int, int]] = {}  # source offset -> (leaf, rendered position)
    cursor = 0
    for n, leaf in enumerate(leaves):
        block_start, block_end = (lines[min(line, len(lines) - 1)] for line in leaf.lines)
        # Table cells share their table's lines: a cell after the first goes on from the last.
        lo = _text_start(source, block_start) if block_start >= cursor else cursor
        hi = max(lo, block_end)
        for pos, offset in enumerate(align(source, lo, hi, leaf.text)):
            if offset is not None:
                where[offset] = (n, pos)
                cursor = offset + 1
    visible = sorted(where)
    placed = [Placed() for _ in leaves]
    for i, event in enumerate(events):
        start, end = token_span(source, event)
        shown = [where[o] for o in range(start, end) if o in where]
        if shown:
            for n in sorted({n for n, _ in shown}):
                positions = [pos for m, pos in shown if m == n]
                placed[n].spans.append((min(positions), max(positions) + 1, i))
            continue
        spot = _glyph_spot(visible, where, start, end, after=event.chosen == EOG_TEXT or not event.chosen.strip())
        if spot is not None:
            placed[spot[0]].marks.append((spot[1], i))
    return placed


def _glyph_spot(visible: list[int], where: dict[int, tuple[int, int]], start: int, end: int,
                after: bool) -> tuple[int, int] | None:
    """Where the glyph of a position with no rendered character goes: after the last visible
    character before it (blank space, the end of the reply), or before the first one after it
    (syntax, which belongs to what follows); the other side when that one does not exist."""
    i = bisect_left(visible, start)
    before = visible[i - 1] if i > 0 else None
    j = bisect_left(visible, end)
    following = visible[j] if j < len(visible) else None
    if before is not None and (after or following is None):
        n, pos = where[before]
        return n, pos + 1
    if following is not None:
        return where[following]
    return None


def vote_style(event: EnsembleEvent, selected: bool) -> str:
    if selected:
        return "bold reverse $accent"
    return "bold $text-warning on $warning-muted" if event.replaced else "underline $text-success"


def mark(content: Content, placed: Placed, events: Sequence[EnsembleEvent], selected: int | None) -> Content:
    """`content` with its ensembled ranges styled and its glyphs inserted, each clickable."""
    for start, end, i in placed.spans:
        content = content.stylize(vote_style(events[i], i == selected), start, end)
        content = content.stylize(Style.from_meta({"vote": i}), start, end)
    for pos, i in sorted(placed.marks, reverse=True):  # from the end, so earlier positions hold
        sign = Content.styled(glyph(events[i]), vote_style(events[i], i == selected))
        content = content[:pos] + sign.stylize(Style.from_meta({"vote": i})) + content[pos:]
    return content
