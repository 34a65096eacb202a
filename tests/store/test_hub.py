"""Pulling from a stand-in Hub on 127.0.0.1: progress, resume, errors, hashes, offline mode.

Real HTTP on loopback, real GGUF bytes, the real huggingface_hub client; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from safe_local import store
from safe_local.store import resolve_model
from tests.store.conftest import one_line_error
from tests.store.hub_server import COMMIT

REPO = "test-org/Tiny-GGUF"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_download_reports_progress_and_lands_in_the_hf_cache(hub, smol_gguf, isolated):
    hosted = hub.add(REPO, "smol-Q4_1.gguf", smol_gguf)
    calls: list[tuple[int, int]] = []
    path = store.pull(f"{REPO}/smol-Q4_1.gguf", progress=lambda done, total: calls.append((done, total)))
    assert sha256(path) == hosted.sha256
    # The usual HF cache layout, so other tools find the file: snapshot link -> blob named by the hash.
    assert path == isolated / "models--test-org--Tiny-GGUF" / "snapshots" / COMMIT / "smol-Q4_1.gguf"
    assert path.is_symlink() and path.resolve().name == hosted.sha256
    assert (isolated / "models--test-org--Tiny-GGUF" / "refs" / "main").read_text() == COMMIT
    assert calls[0] == (0, hosted.size) and calls[-1] == (hosted.size, hosted.size)
    assert len(calls) > 3 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    # Cached now: resolving and pulling again use no network at all.
    before = len(hub.requests)
    assert resolve_model(f"{REPO}/smol-Q4_1.gguf") == path
    assert store.pull(f"{REPO}/smol-Q4_1.gguf") == path
    assert len(hub.requests) == before


def test_interrupted_download_resumes_with_a_range_request(hub, smol_gguf):
    hosted = hub.add(REPO, "smol-Q4_1.gguf", smol_gguf)
    hosted.drop_after = 30_000_000  # the connection dies mid-file, then the server is down
    message = one_line_error(store.pull, f"{REPO}/smol-Q4_1.gguf")
    assert "to resume" in message and "HTTP 503" in message
    kept = hub.requests[-1]
    assert kept.method == "GET"
    hosted.outage = False
    path = store.pull(f"{REPO}/smol-Q4_1.gguf")
    assert sha256(path) == hosted.sha256
    last = hub.gets("smol-Q4_1.gguf")[-1]
    start = int(last.headers["Range"].removeprefix("bytes=").split("-")[0])
    assert 0 < start < hosted.size  # only the missing tail was fetched


def test_cancel_keeps_the_partial_file_and_the_next_pull_resumes(hub, smol_gguf):
    hosted = hub.add(REPO, "smol-Q4_1.gguf", smol_gguf)
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(store.PullCancelled) as exc:
        store.pull(f"{REPO}/smol-Q4_1.gguf", progress=progress, cancel=cancel)
    assert "to resume" in str(exc.value)
    assert not store.is_local(f"{REPO}/smol-Q4_1.gguf")
    plan = store.plan_pull(store.hub_ref(f"{REPO}/smol-Q4_1.gguf"))
    assert 0 < plan.partial_bytes < hosted.size
    path = store.pull(f"{REPO}/smol-Q4_1.gguf")
    assert sha256(path) == hosted.sha256
    assert hub.gets("smol-Q4_1.gguf")[-1].headers["Range"] == f"bytes={plan.partial_bytes}-"


def test_missing_file_and_missing_repo_are_one_line_errors(hub, small_gguf):
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    assert one_line_error(store.pull, f"{REPO}/absent.gguf") == f"{REPO} has no file absent.gguf: check the file name on the Hub"
    assert one_line_error(store.pull, "nobody/nothing:Q4_K_M") == "no model repo nobody/nothing on the Hub (or it is private): check the name"
    assert "has no Q8_0 GGUF file: use test-org/Tiny-GGUF:QUANT with one of Q4_K_M" in one_line_error(store.pull, f"{REPO}:Q8_0")


def test_repo_and_quant_finds_the_file(hub, small_gguf):
    hosted = hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "README.md", small_gguf)
    path = store.pull(REPO)  # Q4_K_M by default
    assert path.name == "tiny-Q4_K_M.gguf" and sha256(path) == hosted.sha256
    assert resolve_model(f"{REPO}:q4_k_m") == path
    assert [m.name for m in store.list_local() if m.source == "hub"] == [f"{REPO}/tiny-Q4_K_M.gguf"]


def test_bytes_that_do_not_match_the_lfs_sha256_are_rejected_and_not_cached(hub, small_gguf, isolated):
    hosted = hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hosted.corrupt = True
    message = one_line_error(store.pull, f"{REPO}/tiny-Q4_K_M.gguf")
    assert "does not match the Hub's sha256" in message and "deleted it" in message
    assert not store.is_local(f"{REPO}/tiny-Q4_K_M.gguf")
    assert list((isolated / "models--test-org--Tiny-GGUF" / "blobs").iterdir()) == []  # no blob, no partial
    hosted.corrupt = False
    assert sha256(store.pull(f"{REPO}/tiny-Q4_K_M.gguf")) == hosted.sha256


def test_offline_mode_uses_the_cache_and_says_how_to_fetch_the_rest(hub, small_gguf, monkeypatch):
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "other-Q8_0.gguf", small_gguf)
    path = store.pull(f"{REPO}/tiny-Q4_K_M.gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)
    assert store.pull(f"{REPO}/tiny-Q4_K_M.gguf") == path
    assert resolve_model(f"{REPO}:Q4_K_M") == path
    assert one_line_error(store.pull, f"{REPO}/other-Q8_0.gguf") == (
        f"{REPO}/other-Q8_0.gguf is not downloaded and HF_HUB_OFFLINE is set: "
        f"unset it, then run: safe-local pull {REPO}/other-Q8_0.gguf"
    )
    assert one_line_error(resolve_model, f"{REPO}:Q8_0") == f"{REPO}:Q8_0 is not downloaded yet: run: safe-local pull {REPO}:Q8_0"
    assert len(hub.requests) == before


def test_unreachable_hub_is_a_one_line_error():
    assert one_line_error(store.pull, f"{REPO}/x.gguf").startswith("cannot reach the Hub at http://127.0.0.1:9")


def test_dry_run_plan_writes_nothing(hub, small_gguf, isolated):
    hosted = hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    plan = store.plan_pull(store.hub_ref(f"{REPO}:Q4_K_M"))
    assert (plan.file, plan.size, plan.sha256, plan.partial_bytes) == ("tiny-Q4_K_M.gguf", hosted.size, hosted.sha256, 0)
    assert plan.free_bytes > hosted.size and not isolated.exists()  # nothing written
