"""A GGUF model on llama.cpp, driven through llama-cpp-python's low-level ctypes API.

Why not the high-level `Llama` class: it cannot return logits for chosen positions of a batch
(only all of them, by allocating n_ctx x n_vocab floats with logits_all), its token_to_piece drops pieces
longer than 32 bytes, and it keeps its own copy of the token history. Here one `llama_batch`
asks for logits only where the engine needs them, the piece table is built once with the real
lengths, and `cached_tokens` is the single record of what the KV cache holds.

Left out on purpose: sampling and anything SAFE-specific (the engine and core do that), LoRA,
embeddings, multimodal input and multi-sequence batching.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import llama_cpp
import numpy as np

from safe_local.backend import llama_log
from safe_local.backend.base import ContextFullError, Message, common_prefix
from safe_local.backend.chat_template import ChatTemplate
from safe_local.core import Vocab
from safe_local.errors import SafeLocalError

_backend_ready = False


def _init_backend() -> None:
    global _backend_ready
    if not _backend_ready:
        llama_log.install()
        llama_cpp.llama_backend_init()
        _backend_ready = True


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: context length, threads, batch size, GPU offload, RPC server."""

    n_ctx: int = 4096
    n_threads: int | None = None  # None: every core this process may use
    n_batch: int = 512
    n_gpu_layers: int = -1  # offload everything when llama.cpp was built with Metal/CUDA
    rpc: str | None = None  # host:port of a ggml-rpc-server that holds the layers (see backend.rpc)

    def __post_init__(self) -> None:
        threads = 1 if self.n_threads is None else self.n_threads  # None: every core, always valid
        for what, value in (("context length", self.n_ctx), ("number of threads", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SafeLocalError(f"the {what} must be a whole number, at least 1; got {value!r}")

    def threads(self) -> int:
        if self.n_threads:
            return self.n_threads
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # macOS has no sched_getaffinity
            return max(1, os.cpu_count() or 1)


def _meta(model: llama_cpp.llama_model_p, key: str) -> str | None:
    size = 256
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_model_meta_val_str(model, key.encode(), buf, size)
        if n < 0:
            return None
        if n < size:
            return buf.value.decode("utf-8", errors="replace")
        size = n + 1


def _piece(vocab: llama_cpp.llama_vocab_p, token: int, special: bool, buf: ctypes.Array) -> bytes:
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, special)
    if n < 0:  # the buffer was too small: -n is the size it needs
        bigger = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, bigger, -n, 0, special)
        return bigger.raw[:n]
    return buf.raw[:n]


class LlamaModel:
    """One loaded GGUF model with its own context (KV cache) on sequence 0."""

    def __init__(self, path: str | Path, name: str | None = None, options: LoadOptions = LoadOptions()):
        _init_backend()
        self.path = Path(path)
        if not self.path.is_file():
            raise SafeLocalError(f"model file not found: {self.path}")
        self._stack = ExitStack()
        self.closed = False
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = options.n_gpu_layers
        if options.rpc:
            from safe_local.backend.rpc import rpc_devices

            devices = rpc_devices(options.rpc)  # llama.cpp copies the list while loading
            mparams.devices = ctypes.cast(devices, ctypes.c_void_p)
        model = llama_cpp.llama_model_load_from_file(str(self.path).encode(), mparams)
        if not model:
            raise SafeLocalError(f"llama.cpp could not load {self.path}: not a valid GGUF model for llama.cpp 0.3.36")
        self._stack.callback(llama_cpp.llama_model_free, model)
        self._model = model
        try:
            self._setup(name, options)
        except BaseException:
            self._stack.close()
            raise

    def _setup(self, name: str | None, options: LoadOptions) -> None:
        model = self._model
        self.architecture = _meta(model, "general.architecture") or "unknown"
        self.name = name or _meta(model, "general.name") or self.path.stem
        if llama_cpp.llama_model_is_recurrent(model) or llama_cpp.llama_model_is_hybrid(model):
            raise SafeLocalError(
                f"{self.name}: {self.architecture} is a recurrent/hybrid model whose cache cannot be rolled back; "
                "SAFE needs attention-only models: choose another model"
            )
        n_ctx_train = llama_cpp.llama_model_n_ctx_train(model)
        self.n_ctx = min(options.n_ctx, n_ctx_train) if n_ctx_train > 0 else options.n_ctx

        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = self.n_ctx
        cparams.n_batch = options.n_batch
        cparams.n_ubatch = options.n_batch
        cparams.n_seq_max = 1
        cparams.n_threads = cparams.n_threads_batch = options.threads()
        # A reduced sliding-window cache cannot drop a suffix older than the window; rollback
        # after an ensemble needs the full-size one.
        cparams.swa_full = True
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            raise SafeLocalError(f"{self.name}: llama.cpp could not create a context of {self.n_ctx} tokens; try a shorter context")
        self._stack.callback(llama_cpp.llama_free, ctx)
        self._ctx = ctx
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._vocab_p = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab_p)
        self.n_batch = options.n_batch

        batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._stack.callback(llama_cpp.llama_batch_free, batch)
        for i in range(self.n_batch):
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
        self._batch = batch
        self._batch_token = np.ctypeslib.as_array(batch.token, shape=(self.n_batch,))
        self._batch_pos = np.ctypeslib.as_array(batch.pos, shape=(self.n_batch,))
        self._batch_logits = np.ctypeslib.as_array(batch.logits, shape=(self.n_batch,))

        buf = ctypes.create_string_buffer(64)
        vocab_p = self._vocab_p
        pieces = [_piece(vocab_p, t, False, buf) for t in range(self.n_vocab)]
        eog = [t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(vocab_p, t)]
        self.vocab = Vocab(pieces, eog, self.tokenize)
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab_p))
        self.bos_id = llama_cpp.llama_vocab_bos(vocab_p)
        self.eos_id = llama_cpp.llama_vocab_eos(vocab_p)

        def special_text(token: int) -> str:
            return _piece(vocab_p, token, True, buf).decode("utf-8", errors="replace") if token >= 0 else ""

        embedded = llama_cpp.llama_model_chat_template(model, None)
        self.chat_template = ChatTemplate.for_model(
            self.name,
            self.architecture,
            embedded.decode("utf-8") if embedded else None,
            bos_token=special_text(self.bos_id),
            eos_token=special_text(self.eos_id),
        )
        self._cached: list[int] = []
        self.n_decoded = 0  # tokens decoded over this model's life, for per-model statistics

    # --- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: bytes, special: bool = False) -> list[int]:
        """Token ids of `text`, never adding BOS; `special` parses control-token text."""
        self._check_open()
        if not text:
            return []
        n_max = len(text) + 8
        while True:
            out = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self._vocab_p, text, len(text), out, n_max, False, special)
            if n >= 0:
                return list(out[:n])
            n_max = -n

    def prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> list[int]:
        """The conversation (and the tools it may call) rendered with this model's own chat
        template, ready for generation."""
        ids = self.tokenize(self.chat_template.render(messages, tools).encode("utf-8"), special=True)
        if self.add_bos and self.bos_id >= 0 and (not ids or ids[0] != self.bos_id):
            ids.insert(0, self.bos_id)
        return ids

    # --- cache ----------------------------------------------------------------------------

    @property
    def cached_tokens(self) -> list[int]:
        """The tokens the KV cache holds, position by position."""
        return list(self._cached)

    def evaluate(self, target: Sequence[int], positions: Sequence[int]) -> np.ndarray:
        """Logits (float32, one row per position) of `target` at `positions`.

        Afterwards the cache holds target[: max(positions) + 1]. Cached tokens shared with
        `target` are reused, except that every requested position is decoded again (llama.cpp
        keeps no logits of earlier calls).
        """
        self._check_open()
        if not positions:
            raise ValueError("evaluate needs at least one position")
        positions = sorted(positions)
        end = positions[-1] + 1
        if end > len(target) or positions[0] < 0:
            raise ValueError(f"positions {positions[0]}..{positions[-1]} outside a target of {len(target)} tokens")
        if end > self.n_ctx:
            raise ContextFullError(f"{self.name}: {end} tokens do not fit its context of {self.n_ctx}")
        keep = min(common_prefix(self._cached, target), positions[0])
        self._truncate(keep)
        wanted = np.zeros(end, dtype=bool)
        wanted[positions] = True
        rows: list[np.ndarray] = []
        for start in range(keep, end, self.n_batch):
            stop = min(start + self.n_batch, end)
            rows.extend(self._decode(target[start:stop], start, wanted[start:stop]))
            self._cached.extend(target[start:stop])
            self.n_decoded += stop - start
        return np.stack(rows)

    def _truncate(self, keep: int) -> None:
        if keep < len(self._cached):
            if not llama_cpp.llama_memory_seq_rm(self._memory, 0, keep, -1):
                llama_cpp.llama_memory_clear(self._memory, True)
                self._cached.clear()
                return
            del self._cached[keep:]

    def _decode(self, tokens: Sequence[int], start: int, wanted: np.ndarray) -> list[np.ndarray]:
        n = len(tokens)
        self._batch.n_tokens = n
        self._batch_token[:n] = tokens
        self._batch_pos[:n] = np.arange(start, start + n)
        self._batch_logits[:n] = wanted
        status = llama_cpp.llama_decode(self._ctx, self._batch)
        if status != 0:
            # The cache may hold part of the batch now: forget it all so the next call re-decodes.
            llama_cpp.llama_memory_clear(self._memory, True)
            self._cached.clear()
            if status == 1:
                raise ContextFullError(f"{self.name}: no room left in its KV cache (context {self.n_ctx})")
            raise SafeLocalError(f"{self.name}: llama.cpp decode failed with status {status}")
        rows = []
        for i in np.flatnonzero(wanted):
            ptr = llama_cpp.llama_get_logits_ith(self._ctx, int(i))
            rows.append(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy())
        return rows

    def reset(self) -> None:
        """Empty the KV cache."""
        self._check_open()
        self._truncate(0)

    def close(self) -> None:
        self._stack.close()
        self._cached.clear()
        self.closed = True

    def _check_open(self) -> None:
        # llama.cpp would use the freed model and context and crash the process.
        if self.closed:
            raise SafeLocalError(f"{self.name} is closed: load the models again to generate")

    def __enter__(self) -> LlamaModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LlamaModel({self.name!r}, arch={self.architecture}, vocab={self.n_vocab}, n_ctx={self.n_ctx})"
