"""Resumable downloads into a partial file, shared by the Hub pull and the PyPI pull.

What it does: ``download`` appends the missing tail of a URL to a partial file with
huggingface_hub's ``http_get`` (a Range request; transient network errors are retried),
reports ``progress(done_bytes, total_bytes)`` for the whole pull as bytes arrive, and stops
between two chunks once a cancel event is set, raising PullCancelled with the partial file
kept for the next pull to resume; any other failure is one SafeLocalError line saying how much
is kept and how to resume. ``check_sha256`` deletes a downloaded file that does not match the
hash it should have, ``require_space`` refuses a pull that would not fit on the disk, and
``offline_error`` is the one-line refusal when HF_HUB_OFFLINE turns downloads off.

Left out: what to download, where it lands and which hash it must have
(safe_local.store.hub, safe_local.store.pypi).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Callable

import httpx2
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.file_download import http_get
from huggingface_hub.utils.sha import sha_fileobj

from safe_local.errors import SafeLocalError
from safe_local.store.memory import format_bytes

__all__ = ["Progress", "PullCancelled", "check_sha256", "download", "free_space", "offline_error", "reason", "require_space"]

Progress = Callable[[int, int], None]


class PullCancelled(SafeLocalError):
    """The download was cancelled; the partial file is kept and the next pull resumes it."""


def download(url: str, partial: Path, size: int, *, spec: str, label: str, headers: dict[str, str] | None = None,
             progress: Progress | None = None, cancel: threading.Event | None = None,
             done_before: int = 0, total: int | None = None) -> None:
    """Download ``url`` (``size`` bytes) into ``partial``, resuming from what it already holds.

    ``spec`` is what the user pulls (named in the resume hint), ``label`` the file (named when
    it fails). A pull of several files reports the bytes of its earlier files too:
    ``done_before`` of them, out of ``total`` for the whole pull (default: this file's size).
    """
    total = size if total is None else total
    have = partial.stat().st_size if partial.exists() else 0
    if have > size:  # not a prefix of this file: start over
        partial.unlink()
        have = 0
    if progress is not None:
        progress(done_before + have, total)
    bar = _progress_class(None if progress is None else lambda done: progress(done_before + done, total), cancel)
    try:
        with open(partial, "ab") as f:
            http_get(url, f, resume_size=have, headers=headers or {}, expected_size=size,
                     displayed_filename=label, tqdm_class=bar)
    except _Cancelled:
        kept = done_before + partial.stat().st_size
        raise PullCancelled(
            f"pull of {spec} cancelled with {format_bytes(kept)} of {format_bytes(total)} kept: "
            f"run: safe-local pull {spec} to resume"
        ) from None
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as exc:
        kept = partial.stat().st_size if partial.exists() else 0
        raise SafeLocalError(
            f"download of {label} stopped at {format_bytes(kept)} of {format_bytes(size)} "
            f"({reason(exc)}): run: safe-local pull {spec} to resume"
        ) from exc


def check_sha256(path: Path, want: str, *, what: str, against: str, spec: str) -> None:
    """Delete ``path`` and raise SafeLocalError unless its sha256 is ``want`` (``against`` says whose hash that is)."""
    with open(path, "rb") as f:
        got = sha_fileobj(f).hex()
    if got != want:
        path.unlink()
        raise SafeLocalError(
            f"{what} does not match {against} (got {got[:12]}…, want {want[:12]}…): "
            f"deleted it; run: safe-local pull {spec} to download it again"
        )


def free_space(directory: Path) -> int:
    """Free bytes on the disk that holds ``directory`` (or its nearest existing parent)."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def require_space(needed: int, free: int, directory: Path, what: str, hint: str) -> None:
    """SafeLocalError when ``needed`` more bytes for ``what`` exceed the ``free`` bytes of ``directory``."""
    if needed > free:
        raise SafeLocalError(
            f"not enough disk space for {what}: it needs {format_bytes(needed)} more, "
            f"{directory} has {format_bytes(free)} free; {hint}"
        )


def offline_error(spec: str) -> SafeLocalError:
    """The refusal to download ``spec`` while HF_HUB_OFFLINE is set."""
    return SafeLocalError(f"{spec} is not downloaded and HF_HUB_OFFLINE is set: unset it, then run: safe-local pull {spec}")


def reason(exc: BaseException) -> str:
    """A short reason for a failed request: the HTTP status, else the exception's first line."""
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Cancelled(Exception):
    pass


def _progress_class(progress: Callable[[int], None] | None, cancel: threading.Event | None) -> type:
    """A tqdm stand-in for http_get: reports the bytes done and stops the download on cancel."""

    class _Bar:
        def __init__(self, *, initial: int = 0, **_: object) -> None:
            self.n = initial

        def update(self, n: int) -> None:
            # Raised before http_get writes the chunk, so the partial file holds exactly what was counted.
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            self.n += n
            if progress is not None:
                progress(self.n)

        def close(self) -> None:
            pass

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    return _Bar
