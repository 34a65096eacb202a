"""Shared fixtures.

offline_model_paths: the three offline models, assembled and verified once per session in the
user cache (or under SAFE_LOCAL_HOME when it is set); name -> Path of the GGUF file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from safe_local.offline_models import install_all

# The machine is shared and its load swings; a per-example deadline would turn a slow moment
# into a false failure. Properties are checked, not timed.
settings.register_profile("safe-local", deadline=None)
settings.load_profile("safe-local")


@pytest.fixture(scope="session")
def offline_model_paths() -> dict[str, Path]:
    return install_all()


# Loaded real models (qwen, gemma, smol, trio, loaded_models), shared by the whole session.
from tests.real_models import gemma, loaded_models, qwen, smol, trio  # noqa: E402,F401
