"""The user's config file: ``config.toml`` in ``paths.config_dir()``, read as one TOML table.

What it does: finds the file, parses it, and turns a syntax error into a one-line
SafeLocalError naming the file and line. A missing file is an empty config, so every reader
falls back to its own defaults. The file is read on each call, so an edit takes effect
without a restart.

One write, on request only: `save_preset` adds or replaces one [presets.NAME] table (what
`safe-local tune --save NAME` found), through tomlkit so the user's comments, order and
formatting survive, and atomically, so an interrupted write leaves the old file whole.

What it leaves out: the meaning of the tables. Each reader owns its own ([models] and
[presets] belong to safe_local.store.catalog; [chat] and [keybindings] to the chat UI); nothing
else is ever written.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from safe_local import paths
from safe_local.errors import SafeLocalError

__all__ = ["CONFIG_FILE", "config_path", "load_config", "save_preset"]

CONFIG_FILE = "config.toml"


def config_path() -> Path:
    """Where the user's config file lives (it may not exist)."""
    return paths.config_dir() / CONFIG_FILE


def load_config() -> dict[str, Any]:
    """The whole config table; {} when there is no config file."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SafeLocalError(f"cannot read config file {path}: {reason}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in the message; keep the one line, name the file.
        message = str(exc).splitlines()[0]
        line = re.search(r"line (\d+)", message)
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise SafeLocalError(f"syntax error in config file {where}: {message}; fix or remove the file") from exc


def save_preset(name: str, entry: dict[str, Any]) -> Path:
    """Write `entry` as [presets.NAME] into the user's config (replacing a preset of that name)."""
    import tomlkit

    load_config()  # a file we cannot parse is reported, never overwritten
    path = config_path()
    document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    presets = document.setdefault("presets", tomlkit.table(is_super_table=True))
    presets[name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(tomlkit.dumps(document))
    os.replace(tmp.name, path)
    return path
