"""Which code made an answer: a fingerprint of the engine's source and llama-cpp-python's version.

Every result's settings (and so its hash) hold `code_version()`, so a resumed evaluation never
counts answers of another engine beside this one's: it happened once, when sharpening changed
while a run was being resumed, and the table mixed two engines without saying so. The engine is
`safe_local.engine` and `safe_local.backend` with every module of the project they import, found
by reading their import statements (lazy ones too), so a module added later is covered without
a list to keep. Each module counts as its code only: comments, docstrings and layout are left
out, so a reworded docstring keeps the results, and any change to code there, even a pure
refactor, makes them another version's (the fingerprint cannot tell the two apart; rerunning is
the safe side). llama.cpp is named by the llama-cpp-python release that vendors it.

Left out: the machine (its CPU changes llama.cpp's float sums slightly; a result says when it
ran in `finished_at` only), the Python version (the fingerprint reads the source through Python's
own parser, so a new Python that prints code differently would only rerun results), and what
the evaluation itself reads (the prompts have PROMPT_VERSION, and `api.make_messages` only wraps
them as a user message; grading is redone on every report). The package data the engine reads
(ENGINE_DATA) is hashed as it is, byte for byte.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable

ENGINE_ROOTS = ("safe_local.engine", "safe_local.backend")
# Package data the engine reads (importlib.resources): the chat templates of models whose GGUF
# has none (Gemma 3 270M among the offline trio) shape their prompts, so they count as its code.
ENGINE_DATA = (("safe_local.catalog", "chat_templates.toml"),)
_PACKAGE = "safe_local"
_ROOT = Path(__file__).resolve().parents[1]  # the safe_local package


@functools.cache
def code_version() -> dict[str, str]:
    """The code that answers here: {"engine": fingerprint, "llama_cpp_python": release}."""
    return {"engine": engine_fingerprint(), "llama_cpp_python": _llama_cpp_release()}


def describe(code: dict[str, Any] | None) -> str:
    """A result's code in a few words, for reports ("engine 1a2b3c, llama-cpp-python 0.3.36")."""
    if not code:
        return "code not recorded"
    return f"engine {str(code.get('engine', '?'))[:6]}, llama-cpp-python {code.get('llama_cpp_python', '?')}"


def engine_fingerprint() -> str:
    """12 hex digits of a hash over the code of the engine's modules (see the module docstring)."""
    digest = hashlib.sha256()
    for name in sorted(engine_modules()):
        digest.update(f"{name}\n{code_only(_source(name))}\n".encode())
    for package, file in ENGINE_DATA:
        digest.update(f"{package}/{file}\n{resources.files(package).joinpath(file).read_text('utf-8')}\n".encode())
    return digest.hexdigest()[:12]


@functools.cache
def engine_modules() -> frozenset[str]:
    """The project's modules the engine is made of: the roots and what they import, transitively."""
    found: set[str] = set()
    missing = [root for root in ENGINE_ROOTS if _path(root) is None]
    if missing:  # without its source (a .pyc-only install) every engine would hash alike
        raise RuntimeError(f"cannot fingerprint the engine: no source for {', '.join(missing)} under {_ROOT}")
    pending = [m for root in ENGINE_ROOTS for m in _with_submodules(root)]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(m for imported in _imports(name) for m in _resolve(imported))
    return frozenset(found)


def code_only(source: str) -> str:
    """The source as its syntax tree prints it, without docstrings: comments and layout drop out."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _llama_cpp_release() -> str:
    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return "not installed"


def _path(name: str) -> Path | None:
    """A project module's source file, found on disk (nothing is imported)."""
    relative = Path(*name.split(".")[1:])
    for path in (_ROOT / relative / "__init__.py", (_ROOT / relative).with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _source(name: str) -> str:
    path = _path(name)
    if path is None:
        raise ValueError(f"{name} is not a module of the project")
    return path.read_text(encoding="utf-8")


def _source_is_package(name: str) -> bool:
    path = _path(name)
    return path is not None and path.name == "__init__.py"


def _with_submodules(name: str) -> list[str]:
    """A module, or a package with each of its modules."""
    path = _path(name)
    if path is None:
        return []
    if path.name != "__init__.py":
        return [name]
    return [name, *(f"{name}.{p.stem}" for p in sorted(path.parent.glob("*.py")) if p.stem != "__init__")]


def _imports(name: str) -> Iterable[str]:
    """The absolute names a module imports from the project (`from a import b` gives a and a.b)."""
    tree = ast.parse(_source(name))
    package = name if _source_is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _resolve(imported: str) -> list[str]:
    """The project modules an import runs: the one it names and the packages above it (each as its
    __init__); none for a name outside the project or one that is no module (`from pkg import name`).
    safe_local's own __init__ is left out: it only re-exports the API, lazily."""
    parts = imported.split(".")
    if parts[0] != _PACKAGE:
        return []
    names = (".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return [name for name in names if _path(name) is not None]
