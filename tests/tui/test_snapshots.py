"""SVG snapshots of the stable screens: empty chat, help, inspector, model picker, and a reply
with its votes marked in the rendered Markdown.

Nothing in them depends on timing, dates or model output: the chat is empty, the inspector
shows a fixed event, the picker fixed rows and the reply is a fixed one with fixed positions. Update with `pytest --snapshot-update` after an
intended change and review the SVGs.
"""

from __future__ import annotations

from tests.tui.conftest import SIZE
from tests.tui.samples import CHOICES, EVENT, FIRST
from tests.tui.test_votes import show_reply
from tui.inspector import InspectorScreen


def test_empty_chat(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_help(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, press=["f1"])


def test_inspector(snap_compare, make_app):
    async def open_inspector(pilot):
        await pilot.app.push_screen(InspectorScreen([FIRST, EVENT], 1))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_inspector)


def test_model_picker(snap_compare, make_app):
    assert snap_compare(make_app(choices=CHOICES), terminal_size=SIZE, press=["ctrl+l"])


def test_votes_in_markdown(snap_compare, make_app):
    async def votes_selected(pilot):
        await show_reply(pilot)
        await pilot.press("ctrl+g", "left")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(110, 44), run_before=votes_selected)
