"""The results file: one JSON object per (task, item, method, settings), appended as each is done.

Each record is written with one write, flushed and fsync'd before the next item starts, so a
crash or Ctrl+C loses at most the item in progress. A line cut off mid-write (power loss) is
cut from the file when it is next opened, so a resumed run appends after the last whole record.
Left out: locking (two runs writing the same file at once are not supported) and compaction.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from safe_local.errors import SafeLocalError

RESULTS_FILE = "results.jsonl"

Key = tuple[str, str, str, str]  # task, item id, method label, settings hash


def record_key(record: dict) -> Key:
    return record["task"], record["item_id"], record["method"], record["settings_hash"]


def read_records(path: Path) -> list[dict]:
    """Every whole record in a results file (a torn last line is skipped)."""
    return list(_records(path))


def _records(path: Path) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    yield json.loads(line)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise SafeLocalError(f"cannot read results {path}: {e}") from None


class ResultLog:
    """An open results file: the keys already done, and appending new records durably."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _cut_torn_line(path)
            self.done: set[Key] = {record_key(r) for r in read_records(path)}
            self._file = open(path, "a", encoding="utf-8")
        except OSError as e:
            raise SafeLocalError(f"cannot write results to {path}: {e.strerror or e}") from None

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done.add(record_key(record))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultLog":
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
