"""Backends: where token ids become logits.

The engine sees a model only through the small `Model` protocol in `base.py`; `llama.py`
implements it on llama.cpp (through llama-cpp-python's ctypes layer). Nothing outside this
package imports llama_cpp.
"""

from safe_local.backend.base import ContextFullError, Model
from safe_local.backend.llama import LlamaModel, LoadOptions

__all__ = ["ContextFullError", "LlamaModel", "LoadOptions", "Model"]
