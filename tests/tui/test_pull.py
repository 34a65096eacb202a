"""Choosing a model that is not on the machine: confirm, pull with progress, then chat with it.

The download is real: huggingface_hub against the stand-in Hub on 127.0.0.1 from the store
tests, serving the real SmolLM2 GGUF; the model is then loaded and answers.
"""

from __future__ import annotations

import pytest

from safe_local import store
from safe_local.offline_models import offline_model_path
from tests.store.hub_server import HubServer
from tests.tui.conftest import SIZE, reply_done, send, wait_for
from tui.dialogs import Confirm
from tui.picker import PickerScreen
from tui.pull import PullScreen
from tui.turns import AssistantTurn

REPO = "test-org/Tiny-GGUF"
SPEC = f"{REPO}/smol-Q4_1.gguf"


@pytest.fixture
def hub(home, monkeypatch):
    with HubServer() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        fake.add(REPO, "smol-Q4_1.gguf", offline_model_path("smollm2-135m"))
        yield fake


async def test_missing_model_is_pulled_with_progress_then_used(make_app, hub, monkeypatch):
    progress: list[tuple[int, int]] = []
    original = PullScreen._progress
    monkeypatch.setattr(PullScreen, "_progress", lambda self, done, total: (progress.append((done, total)),
                                                                             original(self, done, total)))
    assert not store.is_local(SPEC)
    app = make_app(max_tokens=6)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        box = app.screen.query_one("#custom")
        box.value = SPEC
        box.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, Confirm) and SPEC in str(app.screen.question)
        await pilot.press("y")  # the PullScreen opens; loopback is fast, so it may be done already
        await wait_for(pilot, lambda: not isinstance(app.screen, (Confirm, PullScreen)) and store.is_local(SPEC))
        assert store.is_local(SPEC)
        size = offline_model_path("smollm2-135m").stat().st_size
        assert progress and progress[-1] == (size, size) and len(progress) > 2
        await wait_for(pilot, lambda: app.ensemble is not None and app.ensemble.names == ["smol-Q4_1"])
        assert app.settings.models == [SPEC] and app.settings.method == "single"
        await send(pilot, "Hello")
        await reply_done(pilot)
        assert app.query_one(AssistantTurn).text
        assert app.figures.models == ["smol-Q4_1"]


async def test_cancelled_pull_dismisses_quietly_and_loads_nothing(make_app, hub):
    app = make_app()
    results: list[bool] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = PullScreen([SPEC], store.pull)
        screen.cancel.set()  # as if Cancel was pressed before the first bytes arrived
        app.push_screen(screen, results.append)
        await wait_for(pilot, lambda: results)
        assert results == [False]
        assert not any(n.severity == "error" for n in app._notifications)
        assert not store.is_local(SPEC) and app.ensemble.names == ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"]
