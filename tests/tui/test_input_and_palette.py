"""The message input (Enter sends, Ctrl+J adds a line, paste keeps newlines, keys that come in
one burst act in the order typed) and the command palette (the app's actions and its
conversations by title)."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual._xterm_parser import XTermParser

from tests.tui.conftest import SIZE, reply_done, send, wait_for
from tui import app as app_module
from tui.app import ChatApp
from tui.composer import Composer
from tui.turns import AssistantTurn, UserTurn


def burst(app: ChatApp, data: str) -> None:
    """Hand the app `data` as one read from the terminal: parsed by Textual's own parser and
    posted with no pause between the keys, as its input thread does."""
    for event in XTermParser().feed(data):
        app.post_message(event)


def sent(app: ChatApp) -> list[str]:
    return [t.text for t in app.query(UserTurn)]


async def test_enter_in_the_same_burst_as_the_text_sends_all_of_it(make_app):
    app = make_app(max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        burst(app, "Name three rivers in Europe please.\r")
        await wait_for(pilot, lambda: sent(app))
        assert sent(app) == ["Name three rivers in Europe please."] and app.query_one(Composer).text == ""
        await reply_done(pilot)

        # The input has read part of a message when the rest and Enter come: all of it is sent.
        burst(app, "What is the capital of F")
        await pilot.pause()
        burst(app, "rance?\r")
        await wait_for(pilot, lambda: len(sent(app)) == 2)
        assert sent(app)[1] == "What is the capital of France?" and app.query_one(Composer).text == ""
        await reply_done(pilot)


async def test_keys_of_a_burst_act_in_the_order_typed(make_app):
    app = make_app(max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        burst(app, "a\nbx\x7fc")  # a, Ctrl+J, b, x, Backspace, c
        await wait_for(pilot, lambda: composer.text.endswith("c"))
        assert composer.text == "a\nbc"
        burst(app, "\x1b[200~one\ntwo\x1b[201~")  # a bracketed paste keeps its newline and does not send
        await wait_for(pilot, lambda: composer.text.endswith("two"))
        assert composer.text == "a\nbcone\ntwo" and not sent(app)
        burst(app, "\rnext")  # what follows Enter in the same burst stays for the next message
        await wait_for(pilot, lambda: sent(app) and composer.text == "next")
        assert sent(app) == ["a\nbcone\ntwo"]
        await reply_done(pilot)


async def test_enter_while_a_reply_streams_keeps_the_message_in_the_input(make_app):
    app = make_app(max_tokens=300)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Write a long story about a lighthouse keeper.")
        await wait_for(pilot, lambda: app.query_one(AssistantTurn).text)
        burst(app, "And then?\r")
        await wait_for(pilot, lambda: any("being generated" in n.message for n in app._notifications))
        assert app.query_one(Composer).text == "And then?" and len(sent(app)) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.reply.finished.is_set())


class KeysAtStartup(ChatApp):
    """Keys the terminal delivers as the app starts: queued before the app's own start-up work."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))

    def on_mount(self) -> None:
        burst(self, "typed early")


async def test_keys_typed_while_the_app_starts_land_in_the_composer(ensemble, home, tmp_path):
    app = KeysAtStartup(ensemble=ensemble, history=tmp_path / "h.sqlite3")
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        await wait_for(pilot, lambda: composer.text)
        assert composer.text == "typed early" and app.focused is composer


async def test_newline_keys_and_paste_keep_lines_and_enter_sends(make_app):
    app = make_app(max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.query_one(Composer)
        await pilot.press("a", "ctrl+j", "b")
        app.post_message(events.Paste("one\ntwo"))  # as the terminal driver delivers a paste
        await pilot.pause()
        assert composer.text == "a\nbone\ntwo"
        await pilot.press("enter")
        await pilot.pause()
        assert [t.text for t in app.query(UserTurn)] == ["a\nbone\ntwo"] and composer.text == ""
        await reply_done(pilot)


async def test_palette_runs_actions_and_opens_conversations(make_app):
    app = make_app(max_tokens=4)
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"New conversation", "Highlight ensembled tokens", "Export the conversation to Markdown",
                "Choose models or a preset", "Conversation settings"} <= titles
        await pilot.press("ctrl+p")
        await pilot.press(*"highlight ensembled")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.show_ensembled

        await send(pilot, "Tell me about otters")
        await reply_done(pilot)
        conv_id = app.conversation.id
        await pilot.press("ctrl+n")
        assert app.conversation is None and not app.query(UserTurn)
        await pilot.press("ctrl+p")
        await pilot.press(*"otters")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.conversation is not None and app.conversation.id == conv_id
        assert [t.text for t in app.query(UserTurn)] == ["Tell me about otters"]
