"""safe_local.history: conversations in SQLite (WAL, schema version), kill-safe partial replies,
deletion that leaves no trace in the files, Markdown export."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from safe_local.errors import SafeLocalError
from safe_local.history import SCHEMA_VERSION, History, default_path


@pytest.fixture
def db(tmp_path):
    return tmp_path / "history.sqlite3"


def test_default_path_follows_safe_local_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(tmp_path))
    assert default_path() == tmp_path / "data" / "history.sqlite3"
    with History() as h:
        h.create("x")
    assert (tmp_path / "data" / "history.sqlite3").exists()


def test_wal_and_schema_version(db):
    History(db).close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_newer_schema_is_refused(db):
    History(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version=?", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(SafeLocalError, match="newer safe-local"):
        History(db)


def test_create_append_list_rename_and_reopen(db):
    with History(db) as h:
        a = h.create("first", {"method": "safe", "chunk": 3})
        b = h.create("second")
        h.append(a.id, "user", "hello")
        h.append(a.id, "assistant", "hi there", meta={"events": [{"index": 0}]})
        h.rename(b.id, "renamed")
    with History(db) as h:
        convs = h.list_conversations()
        assert [c.title for c in convs] == ["first", "renamed"]  # `first` was updated last
        assert convs[0].settings == {"method": "safe", "chunk": 3}
        msgs = h.messages(a.id)
        assert [(m.role, m.content, m.status) for m in msgs] == [("user", "hello", "done"), ("assistant", "hi there", "done")]
        assert msgs[1].meta == {"events": [{"index": 0}]}
        h.set_settings(a.id, {"method": "single"})
        assert h.get(a.id).settings == {"method": "single"}


def test_update_message_and_unknown_status(db):
    with History(db) as h:
        c = h.create("c")
        m = h.append(c.id, "assistant", "", status="generating")
        h.update_message(m.id, content="partial", status="stopped", meta={"k": 1})
        (got,) = h.messages(c.id)
        assert (got.content, got.status, got.meta) == ("partial", "stopped", {"k": 1})
        with pytest.raises(ValueError):
            h.update_message(m.id, status="weird")


def test_delete_is_really_gone_from_db_and_wal(db):
    secret = "my-very-secret-phrase-42"
    with History(db) as h:
        keep = h.create("keep")
        h.append(keep.id, "user", "harmless")
        c = h.create("secret chat")
        h.append(c.id, "user", secret * 20)
        h.append(c.id, "assistant", secret)
        h.delete(c.id)
        assert [x.title for x in h.list_conversations()] == ["keep"]
        with pytest.raises(SafeLocalError):
            h.get(c.id)
        raw = db.read_bytes() + (db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b"")
        assert secret.encode() not in raw
        assert h.messages(keep.id)[0].content == "harmless"


def test_export_markdown(db):
    with History(db) as h:
        c = h.create("Rivers")
        h.append(c.id, "user", "Name a river.")
        h.append(c.id, "assistant", "The Nile.", status="stopped")
        md = h.export_markdown(c.id)
    assert md.startswith("# Rivers\n")
    assert "## User\n\nName a river." in md
    assert "## Assistant (stopped)\n\nThe Nile." in md


def test_partial_reply_survives_a_kill(db):
    """A process killed (SIGKILL) while writing a reply leaves the last text, marked interrupted."""
    script = textwrap.dedent(f"""
        import os, signal
        from safe_local.history import History
        h = History({str(db)!r})
        c = h.create("killed")
        h.append(c.id, "user", "count")
        m = h.append(c.id, "assistant", "", status="generating")
        text = ""
        for i in range(50):
            text += f"{{i}} "
            h.update_message(m.id, content=text)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    with History(db) as h:
        (conv,) = h.list_conversations()
        user, reply = h.messages(conv.id)
        assert user.content == "count"
        assert reply.content == "".join(f"{i} " for i in range(50))
        assert reply.status == "interrupted"
