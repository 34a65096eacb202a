"""The chat app's plain parts: keymap from the config, settings, stored events, token marking,
the status line's E/T."""

from __future__ import annotations

import pytest

from safe_local import SafeLocalError
from tests.tui.samples import EVENT, FIRST
from tui import keys
from tui.records import ReplyFigures, event_from_dict, event_to_dict
from tui.settings import ChatSettings, unknown_keys
from tui.status import StatusInfo, status_content
from tui.turns import EOG_MARK, token_content, token_span


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

    back = event_from_dict(json.loads(json.dumps(event_to_dict(EVENT))))
    assert back == EVENT


def test_token_content_marks_each_ensembled_position():
    text = "The capital is Paris."
    first = FIRST.__class__(**{**FIRST.__dict__, "char_offset": 14, "chosen": " Paris"})
    eog = FIRST.__class__(**{**FIRST.__dict__, "char_offset": len(text), "chosen": "<eog>"})
    assert token_span(text, first) == (14, 20) and token_span(text, eog) == (21, 21)
    content = token_content(text, [first, eog], selected=0)
    assert content.plain == text + EOG_MARK
    styled = [(s.start, s.end) for s in content.spans]
    assert (14, 20) in styled and (21, 22) in styled


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
