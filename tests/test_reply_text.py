"""ReplyText: UTF-8-safe deltas and stop strings (pure logic, fuzzed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from safe_local.reply_text import ReplyText

TEXT = st.text(alphabet=st.sampled_from(list("ab c\n") + ["é", "🎉", "你"]), max_size=30)


def _feed(data: bytes, cuts: list[int], stops: list[str]) -> tuple[list[str], ReplyText]:
    reply, deltas = ReplyText(stops), []
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        deltas.append(reply.update(data[:cut]))
        if reply.stopped:
            return deltas, reply
    deltas.append(reply.update(data, final=True))
    return deltas, reply


@given(TEXT, st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_deltas_add_up_to_the_text_and_never_split_a_character(text, cuts):
    deltas, reply = _feed(text.encode(), cuts, [])
    assert "".join(deltas) == text == reply.text
    assert all("\ufffd" not in d for d in deltas)


@given(TEXT, st.lists(st.integers(min_value=0, max_value=200), max_size=12), st.sampled_from(["c", "b c", "🎉a"]))
def test_stop_strings_cut_the_reply_and_never_leak(text, cuts, stop):
    deltas, reply = _feed(text.encode(), cuts, [stop])
    streamed = "".join(deltas)
    assert stop not in streamed
    assert streamed == reply.text
    if stop in text:
        assert reply.stopped and reply.text == text[: text.index(stop)]
    else:
        assert reply.text == text


def test_an_unfinished_character_is_held_until_it_completes():
    reply = ReplyText()
    data = "a🎉".encode()
    assert reply.update(data[:3]) == "a"
    assert reply.update(data) == "🎉"
