"""The model catalog and the ensemble presets, and what a model spec refers to.

What it does: reads ``models/catalog.toml`` (package data, installed as safe_local.catalog),
takes the offline models' facts from offline.toml through safe_local.offline_models, merges
the user's ``[models]`` and ``[presets]`` tables and ``default_preset`` from config.toml over
them (the user's entries win on a name clash, an offline model's name included: it then
means the user's Hub model), and validates every entry, a preset's generation options by
type too; a bad entry is a one-line SafeLocalError naming it and where it came from.
``parse_hub_spec`` says which Hub file a spec means: a catalog name with an optional
``:QUANT``, ``owner/repo[:QUANT]`` or ``owner/repo/path/file.gguf``; ``looks_like_path`` says
whether a spec is written as a file path.

Left out: files and the network (safe_local.store.hub finds and fetches files) and turning
specs into paths (safe_local.store.model_paths does that, offline models and local paths included).
The catalog is read on each call, so edits to config.toml apply without a restart.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from safe_local.config import config_path, load_config
from safe_local.errors import SafeLocalError
from safe_local.generation_config import GenerationConfig
from safe_local.offline_models import CATALOG_PACKAGE, offline_model_info, offline_model_names
from safe_local.placement import place

__all__ = [
    "DEFAULT_QUANT",
    "Catalog",
    "CatalogModel",
    "HubRef",
    "Preset",
    "list_presets",
    "load_catalog",
    "looks_like_path",
    "parse_hub_spec",
]

CATALOG_FILE = "catalog.toml"
DEFAULT_QUANT = "Q4_K_M"
_GENERATION_FIELDS = frozenset(f.name for f in dataclasses.fields(GenerationConfig))
_REPO = r"[A-Za-z0-9][\w.-]*/[\w.-]+"
_REPO_QUANT_RE = re.compile(rf"(?P<repo>{_REPO})(?::(?P<quant>[\w.-]+))?")
_REPO_FILE_RE = re.compile(rf"(?P<repo>{_REPO})/(?P<file>[\w./-]+\.gguf)", re.IGNORECASE)


@dataclass(frozen=True)
class CatalogModel:
    name: str
    display_name: str
    family: str
    params: str
    license: str
    chat_template: str
    source: str  # "pypi" (an offline model) or "hub"
    repo: str | None = None
    default_quant: str | None = None
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # quant -> file in the repo
    size_gb: float | None = None  # approximate, default quant


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    models: tuple[str, ...]  # drafter first
    method: str
    base: str
    weights: tuple[float, ...] | None
    defaults: dict[str, Any]  # more GenerationConfig options
    rpc: dict[str, str] = dataclasses.field(default_factory=dict)  # model name -> host:port of its RPC server

    def generation_options(self) -> dict[str, Any]:
        """The preset's generation options as GenerationConfig keyword arguments."""
        options: dict[str, Any] = {"method": self.method, "base": self.base, **self.defaults}
        if self.weights is not None:
            options["weights"] = list(self.weights)
        return options


@dataclass(frozen=True)
class Catalog:
    models: dict[str, CatalogModel]
    presets: dict[str, Preset]
    default_preset: str

    def is_offline(self, name: str) -> bool:
        """Whether the name means an offline model: not when the user's [models] reuses it."""
        model = self.models.get(name)
        return model is not None and model.source == "pypi"


@dataclass(frozen=True)
class HubRef:
    """A GGUF file on the Hub. ``file`` None: the file of ``quant`` in ``repo``, found by listing."""

    spec: str
    repo: str
    file: str | None
    quant: str | None = None
    name: str | None = None  # the catalog name, when the spec came from the catalog


@functools.cache
def _package_data() -> dict[str, Any]:
    text = resources.files(CATALOG_PACKAGE).joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_catalog() -> Catalog:
    """The package catalog with the user's config merged over it, validated."""
    package = _package_data()
    user = load_config()
    user_origin = f"config file {config_path()}"
    models = {name: _offline_model(name, package.get("offline", {}).get(name, {})) for name in offline_model_names()}
    for origin, data in (("the package catalog", package), (user_origin, user)):
        for name, entry in _table(data, "models", origin).items():
            models[name] = _hub_model(name, entry, origin)
    presets: dict[str, Preset] = {}
    for origin, data in (("the package catalog", package), (user_origin, user)):
        for name, entry in _table(data, "presets", origin).items():
            presets[name] = _preset(name, entry, origin, models)
    default = user.get("default_preset", package["default_preset"])
    if default not in presets:
        raise SafeLocalError(f"default_preset {default!r} in {user_origin} is not a preset: use one of {', '.join(presets)}")
    return Catalog(models=models, presets=presets, default_preset=default)


def list_presets() -> list[Preset]:
    """Every preset, package ones first, then the user's."""
    return list(load_catalog().presets.values())


def looks_like_path(spec: str) -> bool:
    """Whether a spec is written as a file path (a separator, a leading ``~`` or ``.``, or ``.gguf`` at the end).

    Some of these (``owner/repo``) are Hub specs too; which one wins is model_paths' call.
    """
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in spec for s in seps) or spec.startswith(("~", ".")) or spec.lower().endswith(".gguf")


def parse_hub_spec(spec: str, catalog: Catalog) -> HubRef | None:
    """The Hub file a spec names, or None when it names no Hub file (offline name, path, unknown)."""
    name, _, quant = spec.partition(":")
    model = catalog.models.get(name)
    if model is not None:
        if model.source != "hub":
            if quant:
                raise SafeLocalError(f"{name} comes in one quantization only: use {name} without :{quant}")
            return None
        chosen = (quant or model.default_quant or DEFAULT_QUANT).upper()
        files = {q.upper(): f for q, f in model.files.items()}
        if chosen not in files:
            raise SafeLocalError(f"{name} has no quantization {quant}: use one of {', '.join(model.files)}")
        return HubRef(spec=spec, repo=model.repo or "", file=files[chosen], quant=chosen, name=name)
    if match := _REPO_FILE_RE.fullmatch(spec):
        return HubRef(spec=spec, repo=match["repo"], file=match["file"])
    if match := _REPO_QUANT_RE.fullmatch(spec):
        return HubRef(spec=spec, repo=match["repo"], file=None, quant=(match["quant"] or DEFAULT_QUANT).upper())
    return None


# --- parsing and validation -------------------------------------------------------------------


def _table(data: dict[str, Any], key: str, origin: str) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise SafeLocalError(f"[{key}] in {origin} must hold one table per name, like [{key}.NAME]")
    return table


def _field(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in entry:
        if default is ...:
            raise SafeLocalError(f"{where} has no {key!r}: add it")
        return default
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise SafeLocalError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _offline_model(name: str, notes: dict[str, Any]) -> CatalogModel:
    info = offline_model_info(name)
    where = f"offline model {name!r} in the package catalog"
    return CatalogModel(
        name=name,
        display_name=info.display_name,
        family=info.family,
        params=_field(notes, "params", str, where),
        license=info.license,
        chat_template=_field(notes, "chat_template", str, where),
        source="pypi",
        default_quant=info.quant,
        size_gb=round(info.size / 1e9, 2),
    )


def _hub_model(name: str, entry: dict[str, Any], origin: str) -> CatalogModel:
    where = f"model {name!r} in {origin}"
    if ":" in name or "/" in name:
        raise SafeLocalError(f"{where}: a model name cannot contain ':' or '/': rename it")
    repo = _field(entry, "repo", str, where)
    if not re.fullmatch(_REPO, repo):
        raise SafeLocalError(f"{where}: repo {repo!r} is not a Hub repo id like owner/name")
    files = _field(entry, "files", dict, where)
    if not files or not all(isinstance(f, str) and f.lower().endswith(".gguf") for f in files.values()):
        raise SafeLocalError(f"{where}: 'files' must map quantizations to .gguf file names, like {{ Q4_K_M = \"x.gguf\" }}")
    default_quant = _field(entry, "default_quant", str, where, DEFAULT_QUANT if DEFAULT_QUANT in files else next(iter(files)))
    if default_quant not in files:
        raise SafeLocalError(f"{where}: default_quant {default_quant!r} is not one of its files ({', '.join(files)})")
    size = _field(entry, "size_gb", (int, float), where, None)
    return CatalogModel(
        name=name,
        display_name=_field(entry, "display_name", str, where, name),
        family=_field(entry, "family", str, where, ""),
        params=_field(entry, "params", str, where, ""),
        license=_field(entry, "license", str, where, ""),
        chat_template=_field(entry, "chat_template", str, where, ""),
        source="hub",
        repo=repo,
        default_quant=default_quant,
        files=dict(files),
        size_gb=float(size) if size is not None else None,
    )


def _preset(name: str, entry: dict[str, Any], origin: str, models: dict[str, CatalogModel]) -> Preset:
    where = f"preset {name!r} in {origin}"
    specs = _field(entry, "models", list, where)
    if not specs or not all(isinstance(s, str) and s for s in specs):
        raise SafeLocalError(f"{where}: 'models' must be a non-empty list of model names, drafter first")
    for spec in specs:
        if spec.partition(":")[0] not in models and not looks_like_path(spec):
            raise SafeLocalError(f"{where} names unknown model {spec!r}: use a catalog name, owner/repo[:QUANT] or a .gguf path")
    defaults = _field(entry, "defaults", dict, where, {})
    unknown = sorted(set(defaults) - _GENERATION_FIELDS)
    if unknown:
        raise SafeLocalError(f"{where}: unknown default(s) {', '.join(unknown)}: use generation options such as chunk, max_tokens, temperature")
    method = entry.get("method", GenerationConfig.method)
    base = entry.get("base", GenerationConfig.base)
    weights = entry.get("weights")
    options = {"method": method, "base": base, **defaults}  # the order of Preset.generation_options
    if weights is not None:
        options["weights"] = weights
    _check_option_types(where, options)
    if options.get("weights") is not None and len(options["weights"]) != len(specs):
        raise SafeLocalError(f"{where}: 'weights' must hold one number per model ({len(specs)})")
    rpc = _field(entry, "rpc", dict, where, {})
    try:
        place(specs, rpc)
    except SafeLocalError as exc:
        raise SafeLocalError(f"{where}: rpc: {exc}") from None
    return Preset(
        name=name,
        description=_field(entry, "description", str, where, ""),
        models=tuple(specs),
        method=method,
        base=base,
        weights=tuple(float(w) for w in weights) if weights is not None else None,
        defaults=dict(defaults),
        rpc=dict(rpc),
    )


def _check_option_types(where: str, options: dict[str, Any]) -> None:
    # Checked here, when the file is read, so a typo is reported with the file and preset it is
    # in, before any model loads, instead of as a traceback from deep inside a generation.
    try:
        GenerationConfig(**options).check_types()
    except SafeLocalError as exc:
        raise SafeLocalError(f"{where}: {exc}") from None
