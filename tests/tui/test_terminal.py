"""`safe-local chat` in a real terminal: tmux gives it a pseudo-terminal and types into it as a
user (or a script) would. Keys typed while it starts stay in the input, a message and its Enter
sent as one burst go out whole, and a bracketed paste keeps its lines until Enter sends it.

The app runs as its own process on the default preset (the session's cached models), with
replies cut to a few tokens by its config; what was sent is read back from its history file.
Every wait is bounded. Skipped where tmux is not installed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Callable

import pytest

from safe_local.store.catalog import load_catalog

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

CHAT = Path(sys.executable).parent / "safe-local"
TINY_BASE = load_catalog().presets["tiny"].base  # the default ensemble's, shown in the status line
WAIT = 240.0  # seconds any one step may take on a loaded machine


class Terminal:
    """A tmux server of its own with one window running `command`."""

    def __init__(self, name: str, command: str, env: dict[str, str]) -> None:
        self.base = ["tmux", "-L", name]
        subprocess.run([*self.base, "kill-server"], capture_output=True)
        subprocess.run([*self.base, "new-session", "-d", "-s", "chat", "-x", "120", "-y", "40", command],
                       env=env, check=True)

    def keys(self, *keys: str) -> None:
        """One send-keys: tmux writes them to the terminal together, as one burst."""
        subprocess.run([*self.base, "send-keys", "-t", "chat", *keys], check=True)

    def paste(self, text: str) -> None:
        """Paste `text` the way a terminal does for an app that asked for bracketed paste."""
        subprocess.run([*self.base, "set-buffer", "-b", "clip", text], check=True)
        subprocess.run([*self.base, "paste-buffer", "-p", "-d", "-b", "clip", "-t", "chat"], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", "chat"], capture_output=True, text=True).stdout

    def wait(self, condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def composer_lines(screen: str) -> list[str]:
    """The rows of text inside the message input's box (the last box opened on the screen)."""
    rows = screen.splitlines()
    top = max(i for i, row in enumerate(rows) if "╭" in row)
    bottom = next(i for i in range(top + 1, len(rows)) if "╰" in rows[i])
    return [row.split("│")[-2].strip() for row in rows[top + 1:bottom]]


def messages(db: Path) -> list[tuple[str, str, str]]:
    """(role, content, status) of every message the app has stored. Read-only: opening a
    History would mark the reply being generated as interrupted, as after a crash."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        return con.execute("SELECT role, content, status FROM messages ORDER BY id").fetchall()


def user_messages(db: Path) -> list[str]:
    return [content for role, content, _ in messages(db) if role == "user"]


def replies_done(db: Path) -> bool:
    """Every message sent has its reply, and none is still being generated."""
    stored = messages(db)
    replies = [status for role, _, status in stored if role == "assistant"]
    return 2 * len(replies) == len(stored) and "generating" not in replies


def test_typing_and_pasting_in_a_real_terminal(home, tmp_path):
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text("[chat]\nmax_tokens = 6\n")
    db = tmp_path / "chat.sqlite3"
    env = {**os.environ, "SAFE_LOCAL_HOME": str(home), "TERM": "xterm-256color"}
    term = Terminal(f"safe-local-test-{os.getpid()}", f"{CHAT} chat --db {db}; echo EXITED $?; sleep 60", env)
    try:
        term.keys("typed early")  # while Python starts, before the app reads the terminal
        term.wait(lambda: f"safe/{TINY_BASE}" in term.screen(), "the app")
        term.wait(lambda: composer_lines(term.screen())[0] == "typed early", "the early keys in the input")
        assert not user_messages(db)

        term.keys("-N", "11", "BSpace")
        term.wait(lambda: "Message the ensemble" in composer_lines(term.screen())[0], "an empty input")
        term.keys("Name three rivers in Europe please.", "Enter")
        term.wait(lambda: user_messages(db), "the message to be sent")
        assert user_messages(db) == ["Name three rivers in Europe please."]
        term.wait(lambda: replies_done(db), "the reply")

        term.paste("First line\nsecond line")
        term.wait(lambda: "second line" in composer_lines(term.screen()), "the paste in the input")
        assert "First line" in composer_lines(term.screen()) and len(user_messages(db)) == 1
        term.keys("Enter")
        term.wait(lambda: len(user_messages(db)) == 2, "the pasted message to be sent")
        assert user_messages(db)[1] == "First line\nsecond line"
        term.wait(lambda: replies_done(db), "the second reply")

        term.keys("C-q")
        term.wait(lambda: "EXITED 0" in term.screen(), "the app to quit")
    finally:
        term.close()
