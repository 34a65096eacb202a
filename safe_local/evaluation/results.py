"""The results file: one JSON object per (task, item, method, settings), appended as each is done.

Each record is written with one write, flushed and fsync'd before the next item starts, so a
crash or Ctrl+C loses at most the item in progress. A line cut off mid-write (power loss) is
cut from the file when it is next opened, so a resumed run appends after the last whole record.
Opening and appending hold an exclusive lock on the file (flock), so several processes (the
shards of one evaluation) can write it at once without tearing each other's records.
A user's item is keyed by its id and the hash of its content, so after its file is edited the
results of the old version stay in the file but match nothing; `current` picks the records of
the items as they are now, which reports count. Left out: deciding who runs what (shards split
the items between them) and compaction.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from safe_local.errors import SafeLocalError
from safe_local.evaluation.data import Item

RESULTS_FILE = "results.jsonl"

Key = tuple[str, str, str, str, str]  # task, item id, item content hash, method label, settings hash


def record_key(record: dict) -> Key:
    return record["task"], record["item_id"], item_hash(record), record["method"], record["settings_hash"]


def item_hash(record: dict) -> str:
    """The content hash of the item a record answered (Item.content_hash)."""
    # Records written before items had hashes have none: the built-in items' keys stay as they
    # were, and a user's item without one never matches, so it runs again.
    return record.get("item_hash", "")


def current(records: list[dict], items_now: Mapping[str, Sequence[Item]]) -> list[dict]:
    """The records of the items as they are now, which are the ones a report counts.

    For a task in `items_now` (its every item, as read for this run), the records whose item is
    among them, content included: results of an item since edited or removed are left out. For
    another task, whose items are not at hand, an item's records of the version appended last.
    """
    now = {(task, item.id): item.content_hash for task, items in items_now.items() for item in items}
    last = {(r["task"], r["item_id"]): item_hash(r) for r in records}  # a later record overwrites
    return [r for r in records
            if (now if r["task"] in items_now else last).get((r["task"], r["item_id"])) == item_hash(r)]


def read_records(path: Path) -> list[dict]:
    """Every whole record in a results file, each key once (a torn last line is skipped)."""
    records: dict[Key, dict] = {}
    for record in _records(path):
        # Two processes running the same item at once (one command started twice, or a plain
        # rerun beside its shards) both store it: it counts once, as the one stored first.
        records.setdefault(record_key(record), record)
    return list(records.values())


def _records(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.endswith("\n"):
                    yield _record(path, number, line)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise SafeLocalError(f"cannot read results {path}: {e}") from None


def _record(path: Path, number: int, line: str) -> dict:
    """A line's record; a line that is none (another tool's file in --out) is a one-line error."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not (isinstance(record, dict) and all(k in record for k in ("task", "item_id", "method", "settings_hash"))):
        raise SafeLocalError(f"{path}:{number} is not a safe-local eval result; give --out a directory of "
                             "its own, or remove that line")
    return record


class ResultLog:
    """An open results file: the keys already done, and appending new records durably."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            with self._locked():
                _cut_torn_line(path)
                self.done: set[Key] = {record_key(r) for r in read_records(path)}
        except OSError as e:
            raise SafeLocalError(f"cannot write results to {path}: {e.strerror or e}") from None

    def append(self, record: dict) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._locked():
            try:
                if os.write(self._fd, data) != len(data):
                    raise OSError(errno.ENOSPC, "the disk is full")
                os.fsync(self._fd)
            except OSError as e:
                _cut_torn_line(self.path)  # now, while no other process can append after it
                raise SafeLocalError(f"cannot write results to {self.path}: {e.strerror or e}") from None
        self.done.add(record_key(record))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_line(path: Path) -> None:
    """Truncate the file after its last newline (drops a record cut off mid-write)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
