"""The chat app's plain parts: keymap from the config, settings, stored events, where votes land
in rendered Markdown, the status line's E/T."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.content import Content
from textual.style import Style

from safe_local import EnsembleEvent, SafeLocalError, SpeculativeTest
from tests.tui.samples import EVENT, FIRST, SAMPLED
from tui import keys
from tui.inspector import why
from tui.records import ReplyFigures, event_from_dict, event_to_dict
from tui.settings import ChatSettings, unknown_keys
from tui.status import StatusInfo, status_content
from tui.votes import BREAK_MARK, EOG_MARK, SYNTAX_MARK, Leaf, Placed, mark, place, token_span


def test_keymap_from_config_accepts_strings_and_lists_and_reports_mistakes():
    keymap, warnings = keys.load_keymap({"send": "ctrl+s", "newline": ["enter", "ctrl+j"], "nope": "x", "help": 3})
    assert keymap == {"send": "ctrl+s", "newline": "enter,ctrl+j"}
    assert len(warnings) == 2 and "nope" in warnings[0] and "help" in warnings[1]
    in_force = keys.effective_keys(keymap)
    assert in_force["send"] == "ctrl+s" and in_force["help"] == "f1"


def test_settings_round_trip_defaults_and_engine_validation():
    defaults = ChatSettings.from_dict({"max_tokens": 99, "temperature": 0.5})
    stored = ChatSettings(method="gac", chunk=3, weights=[2.0, 1.0, 1.0], seed=7, system="Be brief.").to_dict()
    s = ChatSettings.from_dict({**stored, "unknown": 1}, defaults)
    assert (s.method, s.chunk, s.weights, s.seed, s.system) == ("gac", 3, [2.0, 1.0, 1.0], 7, "Be brief.")
    assert ChatSettings.from_dict({}, defaults).max_tokens == 99
    assert s.stream_options()["weights"] == [2.0, 1.0, 1.0] and "system" not in s.stream_options()
    assert s.stream_options()["stop_loops"] is True  # a chat ends looping replies by default
    assert ChatSettings.from_dict({"stop_loops": False}).stream_options()["stop_loops"] is False
    s.validate(3)
    with pytest.raises(SafeLocalError, match="weights"):
        s.validate(2)
    assert unknown_keys({"max_tokens": 1, "colour": "red"}) == ["colour"]


def test_ensemble_events_survive_json():
    import json

    for event in (EVENT, SAMPLED):
        back = event_from_dict(json.loads(json.dumps(event_to_dict(event))))
        assert back == event
    old = event_to_dict(EVENT)
    del old["test"]  # a conversation saved before sampled positions carried their test
    assert event_from_dict(old) == EVENT


def test_the_inspector_says_which_test_decided_a_position():
    assert why(EVENT) == "no consensus — C1 failed: a verifier preferred another token; C2 0.412 ≤ 0.5, so the " \
                         "drafted token was put to the vote"
    assert why(SAMPLED) == ("sampling — C1 not checked (sampling), C2 not used; acceptance test u·q = 0.910·0.460 > "
                            "P* = 0.360, so the drafted token was redrawn from the rest of P*")
    kept = replace(SAMPLED, test=SpeculativeTest(0.2, 0.36, 0.46, True), chosen=" Lyon", replaced=False)
    assert "0.200·0.460 ≤ P* = 0.360, so the drafted token was kept" in why(kept)
    # The threshold the generation used (a preset may set consensus_threshold), not the default.
    assert "C2 0.412 ≤ 0.45, so" in why(replace(EVENT, c2_threshold=0.45))
    assert "C2 0.412 ≤ 0.5, so" in why(replace(EVENT, c2_threshold=None))  # saved before events carried it


def vote(text: str, chosen: str, nth: int = 0, offset: int | None = None) -> EnsembleEvent:
    """An ensembled position choosing the nth occurrence of `chosen` in `text` (or at `offset`)."""
    if offset is None:
        offset = -1
        for _ in range(nth + 1):
            offset = text.index(chosen, offset + 1)
    return replace(FIRST, char_offset=offset, chosen=chosen)


def test_votes_land_on_the_rendered_text_of_each_block():
    source = ("Some **bold** text.\n\n1. 1 apple\n2. pear\n\n```python\nprint(1)\n```\n\n"
              "| a | b |\n|---|---|\n| x | a |\n")
    # What Textual's Markdown renders, piece by piece, with each block's source lines.
    leaves = [Leaf("Some bold text.", (0, 1)), Leaf("1 apple", (2, 3)), Leaf("pear", (3, 4)),
              Leaf("print(1)", (5, 8)), Leaf("a", (9, 12)), Leaf("b", (9, 12)), Leaf("x", (9, 12)),
              Leaf("a", (9, 12))]
    events = [vote(source, "bold"), vote(source, "1 apple"), vote(source, "print"),
              vote(source, "a", nth=3),  # the last table cell, not the header's "a"
              vote(source, "\n\n"), vote(source, "**"), vote(source, "<eog>", offset=len(source))]
    placed = place(source, events, leaves)
    assert placed[0].spans == [(5, 9, 0)]  # "bold" without its asterisks
    assert placed[1].spans == [(0, 7, 1)]  # the item's text, not its list number
    assert placed[3].spans == [(0, 5, 2)]  # in the code, not the fence's "python"
    assert placed[7].spans == [(0, 1, 3)] and not placed[4].spans
    # Positions that render as no character get a glyph: a paragraph break after the text before
    # it, syntax before the text it opens, the end of the reply after the last character.
    assert placed[0].marks == [(15, 4), (5, 5)]
    assert placed[7].marks == [(1, 6)]


def test_mark_styles_each_range_and_inserts_glyphs_that_know_their_position():
    events = [replace(FIRST, chosen=" Paris", replaced=True), replace(FIRST, chosen="\n\n"),
              replace(FIRST, chosen="**"), replace(FIRST, chosen="<eog>")]
    content = mark(Content("The capital is Paris"), Placed(spans=[(14, 20, 0)], marks=[(0, 2), (20, 1), (20, 3)]),
                   events, selected=0)
    assert content.plain == SYNTAX_MARK + "The capital is Paris" + BREAK_MARK + EOG_MARK
    metas = {(s.start, s.end): s.style.meta["vote"] for s in content.spans if isinstance(s.style, Style)}
    assert metas == {(15, 21): 0, (0, 1): 2, (21, 22): 1, (22, 23): 3}
    assert "reverse" in str([s.style for s in content.spans if s.start == 15])  # the selected one


def test_token_span_is_clamped_and_an_end_of_reply_has_no_length():
    text = "The capital is Paris."
    assert token_span(text, replace(FIRST, char_offset=14, chosen=" Paris")) == (14, 20)
    assert token_span(text, replace(FIRST, char_offset=len(text), chosen="<eog>")) == (21, 21)
    assert token_span(text, replace(FIRST, char_offset=99, chosen="x")) == (21, 21)


@pytest.mark.parametrize("tokens, ensembled, shown", [
    (7, 3, "E/T 3 of 7 tokens"), (1, 0, "E/T 0 of 1 token"), (49, 10, "E/T 10 of 49 tokens"),
    (50, 10, "E/T 20% (50 tok)"), (400, 100, "E/T 25% (400 tok)"),
])
def test_status_gives_e_t_as_a_count_on_short_replies(tokens, ensembled, shown):
    figures = ReplyFigures(models=["a", "b"], drafter="a", method="safe/unite", tokens=tokens, prompt_tokens=5,
                           tokens_per_s=10.0, ensemble_rate=ensembled / tokens, stop_reason="eos")
    assert figures.ensembled == ensembled
    line = status_content(StatusInfo(models=("a", "b"), method="safe/unite", figures=figures)).plain
    assert shown in line and "%" not in line.replace(shown, "")
