"""Where safe-local keeps its files: config, data and cache directories.

Uses platformdirs so each OS gets its usual locations; SAFE_LOCAL_HOME, when set, roots all
three under one directory (tests and CI use it to stay out of the user's home). Creating the
directories is left to whoever writes into them.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "safe-local"
HOME_ENV = "SAFE_LOCAL_HOME"


def _root_override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    root = _root_override()
    return root / "config" if root else Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    root = _root_override()
    return root / "data" if root else Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    root = _root_override()
    return root / "cache" if root else Path(platformdirs.user_cache_dir(APP_NAME))
