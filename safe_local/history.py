"""Chat history: conversations and their messages in one SQLite file, safe against kills.

The database lives at `data_dir()/history.sqlite3` (SAFE_LOCAL_HOME moves it) and runs in WAL
mode with a `schema_version` table. Every write is its own transaction, so a reply that is being
generated is stored as a message with status "generating" and rewritten as it grows: killing the
process leaves the last committed text, and the next `History()` marks such messages
"interrupted". Deleting a conversation really removes it: `secure_delete` overwrites the freed
pages and the WAL is checkpointed and truncated, so the text is not left in either file.

Plain storage only: message metadata and conversation settings are opaque JSON dicts chosen by
the caller (the chat UI keeps ensemble events and generation settings there). No Textual here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safe_local.errors import SafeLocalError
from safe_local.paths import data_dir

SCHEMA_VERSION = 1
DB_NAME = "history.sqlite3"
# Message statuses: a finished reply, one the user stopped, one still being written, one whose
# writer died (found "generating" when the database was next opened), one that failed.
STATUSES = ("done", "stopped", "generating", "interrupted", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'done',
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


@dataclass
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str  # "user" | "assistant"
    content: str
    status: str = "done"
    meta: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0


def default_path() -> Path:
    """Where the history database lives unless a path is given."""
    return data_dir() / DB_NAME


class History:
    """A connection to the history database; safe to share between threads (one lock)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._lock = threading.Lock()
            self._setup()
        except sqlite3.DatabaseError as e:
            raise SafeLocalError(f"cannot open the chat history {self.path}: {e}") from None

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a kill never corrupts, only an OS crash can lose the tail
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        with self._tx():
            # executescript would COMMIT on its own; one statement at a time stays in this transaction.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row["version"] > SCHEMA_VERSION:
                raise SafeLocalError(
                    f"the chat history {self.path} was written by a newer safe-local "
                    f"(schema {row['version']}, this one knows {SCHEMA_VERSION}): upgrade safe-local"
                )
            # A reply still "generating" when the database is opened lost its writer.
            db.execute("UPDATE messages SET status='interrupted' WHERE status='generating'")

    def _tx(self):
        return _Transaction(self._db, self._lock)

    # --- conversations ------------------------------------------------------------------------

    def list_conversations(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM conversations ORDER BY updated DESC, id DESC").fetchall()
        return [_conversation(r) for r in rows]

    def create(self, title: str = "New chat", settings: dict[str, Any] | None = None) -> Conversation:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO conversations (title, created, updated, settings) VALUES (?, ?, ?, ?)",
                (title, now, now, json.dumps(settings or {})),
            )
            conv_id = cur.lastrowid
        return Conversation(conv_id, title, now, now, dict(settings or {}))

    def get(self, conversation_id: int) -> Conversation:
        with self._lock:
            row = self._db.execute("SELECT * FROM conversations WHERE id=?", (conversation_id,)).fetchone()
        if row is None:
            raise SafeLocalError(f"no conversation {conversation_id} in the chat history")
        return _conversation(row)

    def rename(self, conversation_id: int, title: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE conversations SET title=? WHERE id=?", (title, conversation_id))

    def set_settings(self, conversation_id: int, settings: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE conversations SET settings=? WHERE id=?", (json.dumps(settings), conversation_id))

    def delete(self, conversation_id: int) -> None:
        """Remove a conversation and its messages from the database file and its WAL."""
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE conversation_id=?", (conversation_id,))
            db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))
        with self._lock:
            # Copies of the deleted pages may still sit in the WAL until it is checkpointed.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- messages -----------------------------------------------------------------------------

    def messages(self, conversation_id: int) -> list[Message]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id=? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [_message(r) for r in rows]

    def append(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        status: str = "done",
        meta: dict[str, Any] | None = None,
    ) -> Message:
        _check_status(status)
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO messages (conversation_id, role, content, status, meta, created) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, status, json.dumps(meta or {}), now),
            )
            db.execute("UPDATE conversations SET updated=? WHERE id=?", (now, conversation_id))
        return Message(cur.lastrowid, conversation_id, role, content, status, dict(meta or {}), now)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Rewrite a message's text, status and/or metadata in one transaction."""
        sets, values = [], []
        if content is not None:
            sets.append("content=?")
            values.append(content)
        if status is not None:
            _check_status(status)
            sets.append("status=?")
            values.append(status)
        if meta is not None:
            sets.append("meta=?")
            values.append(json.dumps(meta))
        if not sets:
            return
        with self._tx() as db:
            db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id=?", (*values, message_id))

    def delete_message(self, message_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE id=?", (message_id,))

    # --- export -------------------------------------------------------------------------------

    def export_markdown(self, conversation_id: int) -> str:
        """The conversation as Markdown: a title, then each message under its role."""
        conv = self.get(conversation_id)
        parts = [f"# {conv.title}\n"]
        for m in self.messages(conversation_id):
            heading = "User" if m.role == "user" else "Assistant"
            note = "" if m.status == "done" else f" ({m.status})"
            parts.append(f"## {heading}{note}\n\n{m.content.rstrip()}\n")
        return "\n".join(parts)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT under the connection lock; ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self.db, self.lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *rest: object) -> None:
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown message status {status!r}")


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(row["id"], row["title"], row["created"], row["updated"], json.loads(row["settings"]))


def _message(row: sqlite3.Row) -> Message:
    return Message(
        row["id"], row["conversation_id"], row["role"], row["content"], row["status"],
        json.loads(row["meta"]), row["created"],
    )
