"""SVG snapshots of the stable screens: empty chat, help, inspector, model picker.

Nothing in them depends on timing, dates or model output: the chat is empty, the inspector
shows a fixed event and the picker fixed rows. Update with `pytest --snapshot-update` after an
intended change and review the SVGs.
"""

from __future__ import annotations

from tests.tui.conftest import SIZE
from tests.tui.samples import CHOICES, EVENT, FIRST
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
