"""Votes shown in the rendered Markdown (Ctrl+T): code blocks, lists and tables stay, the ensembled
positions are marked inside them, and Ctrl+G / a click still open the inspector.

The reply and its positions are fixed (tests.tui.samples), so nothing depends on model output.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static
from textual.widgets.markdown import MarkdownFence

from tests.tui.conftest import SIZE, wait_for
from tests.tui.samples import MARKDOWN_EVENTS, MARKDOWN_REPLY
from tui.inspector import InspectorScreen
from tui.token_view import TokenView
from tui.turns import AssistantTurn
from tui.votes import EOG_MARK


def marked(view: TokenView) -> dict[int, tuple[Static, str]]:
    """Event index -> the widget showing it and the text marked for it."""
    found = {}
    for widget in view.query(Static):
        content = widget.content
        if isinstance(content, Content):
            for span in content.spans:
                index = getattr(span.style, "meta", {}).get("vote")
                if index is not None:
                    found[index] = (widget, content.plain[span.start:span.end])
    return found


async def show_reply(pilot) -> TokenView:
    app = pilot.app
    app.mount_turns(AssistantTurn(1, MARKDOWN_REPLY, MARKDOWN_EVENTS))
    await pilot.pause()
    await pilot.press("ctrl+t")
    view = app.query_one(AssistantTurn).token_view
    await wait_for(pilot, lambda: len(marked(view)) == len(MARKDOWN_EVENTS))
    return view


async def test_votes_are_marked_inside_code_lists_and_tables(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await show_reply(pilot)
        assert view.display and not app.query_one(AssistantTurn).query_one(".body").display
        assert view.query(MarkdownFence) and view.query("MarkdownBulletList") and view.query("MarkdownTable")
        found = marked(view)
        assert found[0][1] == "add" and found[0][0].parent.__class__ is MarkdownFence
        assert found[1][1] == "Sums"  # in the list item, without its ** markers
        assert found[2][1] == "2" and found[2][0].has_class("cell")  # the table's body cell, not its header
        assert found[3][1] == EOG_MARK
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not view.display and app.query_one(AssistantTurn).query_one(".body").display


async def test_selection_and_clicks_open_the_inspector_on_the_marked_position(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await show_reply(pilot)
        await pilot.press("ctrl+g")
        assert view.has_focus and view.selected == len(MARKDOWN_EVENTS) - 1
        await pilot.press("left", "left")
        assert view.selected == 1
        styles = [str(s.style) for s in marked(view)[1][0].content.spans]
        assert any("reverse" in style for style in styles), "the selected position is shown as selected"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen) and app.screen.index == 1
        await pilot.press("escape")
        await pilot.pause()

        widget, _ = marked(view)[2]  # the table cell "2": click on it
        await pilot.click(widget, offset=(widget.styles.padding.left, 0))
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen) and app.screen.index == 2
