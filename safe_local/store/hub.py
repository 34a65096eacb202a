"""GGUF files from the Hugging Face Hub: find them in the shared HF cache, download them.

What it does:
- reads HF_ENDPOINT, HF_HUB_CACHE / HF_HOME and HF_HUB_OFFLINE when called (huggingface_hub
  reads them once at import; a long-running chat UI and the tests change them later) and
  passes them to every huggingface_hub call explicitly;
- finds a cached file with ``try_to_load_from_cache`` / ``scan_cache_dir``, never touching
  the network;
- downloads into the shared HF cache (``~/.cache/huggingface/hub``: no second copy, other
  tools see the file): ``get_hf_file_metadata`` and ``HfApi.get_paths_info`` give the commit,
  size and LFS sha256, free disk space is checked first, safe_local.store.download streams the
  bytes with progress, cancel and Range resumes, the sha256 is checked, and ``hf_hub_download``
  then links the verified blob into the snapshot and writes refs/main, the usual cache layout.

Why not ``hf_hub_download`` alone: since huggingface_hub 1.0 it writes to a process-unique
temporary file and deletes it on any failure, so an interrupted or cancelled download starts
again from zero, and it does not check the LFS sha256. Here the partial file is
``blobs/<etag>.incomplete`` (the name older huggingface_hub versions resumed from), kept until
it is complete and verified, under the same lock huggingface_hub takes for that blob.

Left out: split (multi-part) GGUF files, revisions other than main, and uploading.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import (
    HfApi,
    constants,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    scan_cache_dir,
    try_to_load_from_cache,
)
from huggingface_hub.errors import (
    CacheNotFound,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import WeakFileLock, build_hf_headers

from safe_local.errors import SafeLocalError
from safe_local.store.catalog import HubRef
from safe_local.store.download import Progress, check_sha256, download, free_space, offline_error, reason, require_space

__all__ = [
    "CachedGGUF",
    "HubEnv",
    "PullPlan",
    "cached_ggufs",
    "cached_path",
    "hub_env",
    "pick_quant_file",
    "plan_pull",
    "pull_hub",
    "quant_of",
]

_QUANT_RE = re.compile(r"[-_.]((?:I?Q\d\w*?|F16|BF16|F32))\.gguf$", re.IGNORECASE)
_TRUE = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class HubEnv:
    endpoint: str
    cache_dir: Path
    offline: bool


@dataclass(frozen=True)
class PullPlan:
    """What a pull would do: the file, its size and hash, and what is already on disk."""

    spec: str
    repo: str
    file: str
    size: int
    sha256: str | None
    blob: Path  # where the verified file lands in the HF cache
    partial_bytes: int  # already downloaded by an interrupted pull
    free_bytes: int
    url: str
    etag: str

    @property
    def partial(self) -> Path:
        return self.blob.with_name(self.blob.name + ".incomplete")


@dataclass(frozen=True)
class CachedGGUF:
    repo: str
    file: str  # path inside the repo
    path: Path  # the snapshot link
    blob: Path
    size: int


def hub_env() -> HubEnv:
    """The Hub endpoint, cache directory and offline switch, read from the environment now."""
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        cache = Path(env["HF_HUB_CACHE"])
    elif env.get("HF_HOME"):
        cache = Path(env["HF_HOME"]) / "hub"
    else:
        cache = Path(constants.HF_HUB_CACHE)
    offline = env.get("HF_HUB_OFFLINE")
    return HubEnv(
        endpoint=(env.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"),
        cache_dir=cache.expanduser(),
        offline=constants.HF_HUB_OFFLINE if offline is None else offline.upper() in _TRUE,
    )


def quant_of(filename: str) -> str | None:
    """The quantization a GGUF file name states (``...-Q4_K_M.gguf`` -> ``Q4_K_M``), if any."""
    match = _QUANT_RE.search(filename)
    return match.group(1).upper() if match else None


def pick_quant_file(repo: str, files: list[str], quant: str) -> str:
    """The one GGUF file of ``quant`` among a repo's files; SafeLocalError naming the choices."""
    ggufs = [f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower()]
    matches = [f for f in ggufs if quant_of(f) == quant.upper()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SafeLocalError(f"{repo} has several {quant} files ({', '.join(matches)}): pull one as {repo}/FILE.gguf")
    available = sorted({q for f in ggufs if (q := quant_of(f))})
    if not available:
        raise SafeLocalError(f"{repo} has no single-file GGUF models: pull a file as {repo}/FILE.gguf")
    raise SafeLocalError(f"{repo} has no {quant} GGUF file: use {repo}:QUANT with one of {', '.join(available)}")


def cached_path(ref: HubRef, env: HubEnv | None = None) -> Path | None:
    """Path of the file in the HF cache, or None; never uses the network."""
    env = env or hub_env()
    file = ref.file
    if file is None:
        try:
            file = pick_quant_file(ref.repo, [c.file for c in cached_ggufs(env) if c.repo == ref.repo], ref.quant or "")
        except SafeLocalError:
            return None
    found = try_to_load_from_cache(ref.repo, file, cache_dir=env.cache_dir)
    return Path(found) if isinstance(found, str) else None


def cached_ggufs(env: HubEnv | None = None) -> list[CachedGGUF]:
    """Every GGUF file in the HF cache's model repos (one entry per snapshot link)."""
    env = env or hub_env()
    try:
        info = scan_cache_dir(env.cache_dir)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            for f in revision.files:
                if f.file_name.lower().endswith(".gguf"):
                    file = f.file_path.relative_to(revision.snapshot_path).as_posix()
                    found.append(CachedGGUF(repo.repo_id, file, f.file_path, f.blob_path, f.size_on_disk))
    return found


def plan_pull(ref: HubRef, env: HubEnv | None = None) -> PullPlan:
    """Ask the Hub what pulling ``ref`` means (file, size, sha256); downloads nothing."""
    env = env or hub_env()
    if env.offline:
        raise offline_error(ref.spec)
    with _hub_errors(ref, env):
        api = HfApi(endpoint=env.endpoint)
        file = ref.file or pick_quant_file(ref.repo, api.list_repo_files(ref.repo), ref.quant or "")
        meta = get_hf_file_metadata(hf_hub_url(ref.repo, file, endpoint=env.endpoint), endpoint=env.endpoint)
        if not meta.commit_hash or not meta.etag:
            raise SafeLocalError(f"{env.endpoint} did not answer like the Hugging Face Hub (no commit or ETag for {ref.repo}/{file}): check HF_ENDPOINT")
        infos = api.get_paths_info(ref.repo, [file], revision=meta.commit_hash)
    lfs = infos[0].lfs if infos else None
    size = lfs.size if lfs else meta.size
    if size is None:
        raise SafeLocalError(f"the Hub did not say how big {ref.repo}/{file} is: try again later")
    blob = env.cache_dir / repo_folder_name(repo_id=ref.repo, repo_type="model") / "blobs" / meta.etag
    partial = blob.with_name(blob.name + ".incomplete")
    return PullPlan(
        spec=ref.spec, repo=ref.repo, file=file, size=size, sha256=lfs.sha256 if lfs else None,
        blob=blob, partial_bytes=partial.stat().st_size if partial.exists() else 0,
        free_bytes=free_space(blob.parent), url=meta.location, etag=meta.etag,
    )


def pull_hub(ref: HubRef, *, progress: Progress | None = None, cancel: threading.Event | None = None) -> Path:
    """Download ``ref`` into the HF cache (resuming a partial file) and return its path."""
    env = hub_env()
    cached = cached_path(ref, env)
    if cached is not None:
        return cached
    plan = plan_pull(ref, env)
    require_space(plan.size - plan.partial_bytes, plan.free_bytes, plan.blob.parent, plan.file,
                  "free some space or set HF_HUB_CACHE to another disk")
    lock = env.cache_dir / ".locks" / repo_folder_name(repo_id=ref.repo, repo_type="model") / f"{plan.etag}.lock"
    try:
        plan.blob.parent.mkdir(parents=True, exist_ok=True)
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(lock):
            if not plan.blob.exists():
                _download(plan, env, progress, cancel)
                _verify(plan)
                plan.partial.chmod(0o644)
                os.replace(plan.partial, plan.blob)
    except OSError as exc:
        raise SafeLocalError(
            f"cannot write to the Hugging Face cache {env.cache_dir} ({reason(exc)}): set HF_HUB_CACHE to a writable folder"
        ) from exc
    # The verified blob is in place, so this only links it into snapshots/ and writes refs/main.
    with _hub_errors(ref, env):
        path = Path(hf_hub_download(ref.repo, plan.file, cache_dir=env.cache_dir, endpoint=env.endpoint))
    if path.resolve() != plan.blob.resolve():
        raise SafeLocalError(f"{plan.repo}/{plan.file} changed on the Hub during the download: run the pull again")
    return path


# --- internals ----------------------------------------------------------------------------------


def _download(plan: PullPlan, env: HubEnv, progress: Progress | None, cancel: threading.Event | None) -> None:
    headers = build_hf_headers()
    if urlsplit(plan.url).hostname != urlsplit(env.endpoint).hostname:
        headers.pop("authorization", None)  # a CDN link is signed; the Hub token stays with the Hub
    download(plan.url, plan.partial, plan.size, spec=plan.spec, label=plan.file, headers=headers,
             progress=progress, cancel=cancel)


def _verify(plan: PullPlan) -> None:
    if plan.sha256 is not None:  # None: not an LFS file, the Hub publishes no sha256 to check against
        check_sha256(plan.partial, plan.sha256, what=f"{plan.repo}/{plan.file}", against="the Hub's sha256", spec=plan.spec)


@contextmanager
def _hub_errors(ref: HubRef, env: HubEnv) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one-line SafeLocalErrors about ``ref``."""
    repo, what = ref.repo, ref.file or f"{ref.repo}:{ref.quant}"
    try:
        yield
    except SafeLocalError:
        raise
    except GatedRepoError as exc:
        raise SafeLocalError(f"{repo} is gated: accept its terms on the Hub, then log in with `hf auth login` or set HF_TOKEN") from exc
    except RepositoryNotFoundError as exc:
        raise SafeLocalError(f"no model repo {repo} on the Hub (or it is private): check the name") from exc
    except RevisionNotFoundError as exc:
        raise SafeLocalError(f"{repo} has no main branch on the Hub") from exc
    except RemoteEntryNotFoundError as exc:
        raise SafeLocalError(f"{repo} has no file {what}: check the file name on the Hub") from exc
    except OfflineModeIsEnabled as exc:
        raise SafeLocalError(
            f"{ref.spec} is not downloaded and offline mode is on: unset HF_HUB_OFFLINE, then run: safe-local pull {ref.spec}"
        ) from exc
    except HfHubHTTPError as exc:
        raise SafeLocalError(f"the Hub at {env.endpoint} answered {reason(exc)} for {repo} ({what}): try again later") from exc
    except (httpx2.HTTPError, OSError) as exc:
        raise SafeLocalError(
            f"cannot reach the Hub at {env.endpoint} ({reason(exc)}): check the network, "
            "or set HF_HUB_OFFLINE=1 to use downloaded models only"
        ) from exc
