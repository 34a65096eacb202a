"""Session-wide real models for the tests (loaded once; each test leaves them reusable).

Every test that needs a model uses these real GGUF files through llama-cpp-python; nothing
here is faked. Tests that need a model in a special state (tiny context) load their own.
"""

from __future__ import annotations

import pytest

from safe_local.backend import LlamaModel, LoadOptions
from safe_local.engine import Engine

NAMES = ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")
OPTIONS = LoadOptions(n_ctx=2048)


@pytest.fixture(scope="session")
def loaded_models(offline_model_paths) -> dict[str, LlamaModel]:
    models = {name: LlamaModel(offline_model_paths[name], name=name, options=OPTIONS) for name in NAMES}
    yield models
    for m in models.values():
        m.close()


@pytest.fixture(scope="session")
def qwen(loaded_models) -> LlamaModel:
    return loaded_models["qwen2.5-coder-0.5b"]


@pytest.fixture(scope="session")
def gemma(loaded_models) -> LlamaModel:
    return loaded_models["gemma3-270m"]


@pytest.fixture(scope="session")
def smol(loaded_models) -> LlamaModel:
    return loaded_models["smollm2-135m"]


@pytest.fixture(scope="session")
def trio(loaded_models) -> Engine:
    """Qwen drafting, Gemma and SmolLM2 verifying."""
    return Engine([loaded_models[n] for n in NAMES])
