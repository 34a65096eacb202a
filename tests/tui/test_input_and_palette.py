"""The message input (Enter sends, Ctrl+J adds a line, paste keeps newlines) and the command
palette (the app's actions and its conversations by title)."""

from __future__ import annotations

from textual import events

from tests.tui.conftest import SIZE, reply_done, send
from tui.composer import Composer
from tui.turns import UserTurn


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
