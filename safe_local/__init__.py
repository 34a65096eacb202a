"""safe-local: several small local LLMs answering together (SAFE ensembling on llama.cpp).

Public API: `Ensemble` (load models, generate, stream), `GenerationConfig`, the event and
result types, `SafeLocalError`, and `model_name` (a spec without its `@host:port` placement). The pure-NumPy algorithm lives in `safe_local.core`,
llama.cpp in `safe_local.backend`. Names are imported on first use, so `safe_local.paths`
or the CLI's --help do not load llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Ensemble": "safe_local.api",
    "make_messages": "safe_local.api",
    "BASES": "safe_local.generation_config",
    "METHODS": "safe_local.generation_config",
    "SHARPENING": "safe_local.generation_config",
    "Engine": "safe_local.engine",
    "GenerationConfig": "safe_local.generation_config",
    "SafeLocalError": "safe_local.errors",
    "Done": "safe_local.events",
    "EnsembleEvent": "safe_local.events",
    "Event": "safe_local.events",
    "GenerationResult": "safe_local.events",
    "GenerationStats": "safe_local.events",
    "ModelStats": "safe_local.events",
    "ModelView": "safe_local.events",
    "SpeculativeTest": "safe_local.events",
    "TextDelta": "safe_local.events",
    "model_name": "safe_local.placement",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from safe_local.api import Ensemble, make_messages
    from safe_local.engine import Engine
    from safe_local.errors import SafeLocalError
    from safe_local.events import (
        Done,
        EnsembleEvent,
        Event,
        GenerationResult,
        GenerationStats,
        ModelStats,
        ModelView,
        SpeculativeTest,
        TextDelta,
    )
    from safe_local.generation_config import BASES, METHODS, SHARPENING, GenerationConfig
    from safe_local.placement import model_name


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'safe_local' has no attribute {name!r}")
