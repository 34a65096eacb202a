"""Fixtures for the chat app tests: the session's real models as one Ensemble, and an app
factory with its own history database, config and data dir under tmp_path. `async def` tests
run in a fresh event loop each (the hook below), so no asyncio plugin is needed."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from safe_local import Ensemble, GenerationConfig, paths
from safe_local.chat_defaults import CHAT_SAMPLING
from tests.real_models import NAMES
from tui.app import ChatApp

SIZE = (110, 32)  # a fixed terminal size: layouts (and snapshots) do not depend on the machine
# The engine's own (greedy, penalty-free) values of the options the chat's defaults change.
GREEDY = {name: getattr(GenerationConfig, name) for name in ("temperature", *CHAT_SAMPLING)}


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture(scope="session")
def ensemble(loaded_models) -> Ensemble:
    """The offline trio (Qwen drafting) as an Ensemble, sharing the session's loaded models."""
    return Ensemble([loaded_models[n] for n in NAMES])


@pytest.fixture
def home(tmp_path, monkeypatch, offline_model_paths):
    """Config and data under tmp_path; the model cache stays shared, so nothing is re-assembled."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").symlink_to(paths.cache_dir(), target_is_directory=True)
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing reaches the internet
    return home


@pytest.fixture
def make_app(ensemble, home, tmp_path):
    """ChatApp on the real ensemble; keep replies short so the tests stay quick. Replies are
    greedy without penalties (a test's `[chat]` table may say otherwise), so they are the same
    on every run: the chat's sampling defaults are tested on their own (test_chat_sampling)."""

    def make(max_tokens: int = 16, config: dict | None = None, **kwargs) -> ChatApp:
        config = dict(config or {})
        chat = config.setdefault("chat", {})
        chat.setdefault("max_tokens", max_tokens)
        for name, value in GREEDY.items():
            chat.setdefault(name, value)
        return ChatApp(ensemble=ensemble, history=tmp_path / "history.sqlite3", config=config, **kwargs)

    return make


async def wait_for(pilot, condition, timeout: float = 180.0) -> None:
    """Let the app run until condition() holds (worker threads report through the event loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)
    await pilot.pause()


async def send(pilot, text: str) -> None:
    app = pilot.app
    app.query_one("#composer").text = text
    await pilot.press("enter")


async def reply_done(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.reply is not None and app.reply.finished.is_set())
