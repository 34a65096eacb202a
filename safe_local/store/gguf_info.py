"""Read what the pre-load checks need from a GGUF file's header, without loading weights.

Gives the architecture, whether llama.cpp treats it as recurrent or hybrid (those cannot
roll back their state, which SAFE's draft-and-verify needs), the training context length,
the attention shape that sizes the KV cache, the vocabulary type and size, and a tokenizer
identity (a hash of tokenizer model, pre-tokenizer, token list and merges), so two models
with the same tokenizer can be recognised.

Why not ``gguf.GGUFReader``: it builds a numpy view for every element of every array, which
took 2 s for SmolLM2's 49k-token vocabulary and 10-13 s for Qwen's and Gemma's here, far too
slow for a check before each load. This reader walks the key/value section once with
``struct`` over an mmap, takes key names, value-type codes and the magic from the ``gguf``
package (the format's reference implementation), and never looks at the tensor section.
llama.cpp's own vocab-only load is no substitute either: asking it for attention
hyper-parameters then aborts the process.

Left out: tensor data and tensor infos, big-endian files (refused with a message), and any
judgement about the numbers (safe_local.store.memory and .preflight make those).
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gguf

from safe_local.errors import SafeLocalError

__all__ = ["GGUFInfo", "RECURRENT_ARCHITECTURES", "read_gguf_info", "tokenizer_twins"]

# llama.cpp's llm_arch_is_recurrent / llm_arch_is_hybrid lists. Files of a newer recurrent
# architecture are still caught by their state-space / RWKV / short-convolution keys below.
RECURRENT_ARCHITECTURES = frozenset({
    "mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7",
    "jamba", "falcon-h1", "granitehybrid", "lfm2", "lfm2moe", "nemotron_h", "plamo2",
    "qwen3next", "qwen35", "qwen35moe",
})
_RECURRENT_KEY_GROUPS = (".ssm.", ".wkv.", ".shortconv.")

_T = gguf.GGUFValueType
_SCALARS = {
    _T.UINT8: "<B", _T.INT8: "<b", _T.UINT16: "<H", _T.INT16: "<h", _T.UINT32: "<I",
    _T.INT32: "<i", _T.FLOAT32: "<f", _T.BOOL: "<?", _T.UINT64: "<Q", _T.INT64: "<q",
    _T.FLOAT64: "<d",
}


@dataclass(frozen=True)
class _Array:
    """An array value: its element count and the byte span it occupies (for hashing)."""

    count: int
    start: int
    end: int


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    file_size: int
    architecture: str
    model_name: str | None
    recurrent: bool  # recurrent or hybrid: refused by the pre-load checks
    context_length: int | None  # training context
    block_count: int
    embedding_length: int
    head_count: int
    head_count_kv: int
    key_length: int  # per head
    value_length: int
    vocab_type: str | None  # tokenizer.ggml.model: "gpt2" (byte BPE), "llama" (SentencePiece), ...
    vocab_size: int
    tokenizer_id: str  # sha256 over tokenizer model, pre-tokenizer, tokens and merges


def read_gguf_info(path: Path) -> GGUFInfo:
    """Header facts of a GGUF file; SafeLocalError if it is not a readable GGUF file."""
    path = Path(path)
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            fields, spans = _read_fields(mm, path)
            tokenizer_id = _tokenizer_id(mm, fields, spans)
            size = len(mm)
    except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
        raise SafeLocalError(f"cannot read model file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    return _info(path, size, fields, tokenizer_id)


def tokenizer_twins(models: Sequence[tuple[str, GGUFInfo]]) -> dict[str, list[str]]:
    """name -> the other names with an identical tokenizer (names without a twin are left out)."""
    groups: dict[str, list[str]] = {}
    for name, info in models:
        groups.setdefault(info.tokenizer_id, []).append(name)
    return {name: [o for o in group if o != name] for group in groups.values() if len(group) > 1 for name in group}


def _read_fields(mm: mmap.mmap, path: Path) -> tuple[dict[str, Any], dict[str, _Array]]:
    try:
        magic, version = struct.unpack_from("<II", mm, 0)
        if magic != gguf.GGUF_MAGIC:
            raise SafeLocalError(f"{path} is not a GGUF file (its header is not 'GGUF')")
        if version not in (2, 3):
            raise SafeLocalError(
                f"{path} is GGUF version {version} (or big-endian), which safe-local cannot read: "
                "use a little-endian GGUF v3 file"
            )
        _, kv_count = struct.unpack_from("<QQ", mm, 8)
        offset = 24
        fields: dict[str, Any] = {}
        for _ in range(kv_count):
            key, offset = _string(mm, offset)
            (vtype,), offset = struct.unpack_from("<I", mm, offset), offset + 4
            fields[key], offset = _value(mm, offset, _T(vtype))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise SafeLocalError(f"{path} is truncated or damaged (unreadable GGUF header): download it again") from exc
    arrays = {k: v for k, v in fields.items() if isinstance(v, _Array)}
    return fields, arrays


def _string(mm: mmap.mmap, offset: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<Q", mm, offset)
    start = offset + 8
    if start + n > len(mm):
        raise ValueError("string runs past the end of the file")
    return bytes(mm[start:start + n]).decode("utf-8"), start + n


def _value(mm: mmap.mmap, offset: int, vtype: gguf.GGUFValueType) -> tuple[Any, int]:
    if vtype == _T.STRING:
        return _string(mm, offset)
    if vtype == _T.ARRAY:
        item_type, count = struct.unpack_from("<IQ", mm, offset)
        start = offset = offset + 12
        item = _T(item_type)
        if item == _T.STRING:
            for _ in range(count):  # variable-length items: walk their length prefixes
                (n,) = struct.unpack_from("<Q", mm, offset)
                offset += 8 + n
        elif item in _SCALARS:
            offset += count * struct.calcsize(_SCALARS[item])
        else:
            raise ValueError(f"nested arrays ({item.name}) are not used by model headers")
        if offset > len(mm):
            raise ValueError("array runs past the end of the file")
        if item in _SCALARS and count <= 1024:  # small numeric arrays (per-layer head counts) are kept
            fmt = "<" + _SCALARS[item][1] * count
            return list(struct.unpack_from(fmt, mm, start)), offset
        return _Array(count, start, offset), offset
    fmt = _SCALARS[vtype]
    return struct.unpack_from(fmt, mm, offset)[0], offset + struct.calcsize(fmt)


def _tokenizer_id(mm: mmap.mmap, fields: dict[str, Any], arrays: dict[str, _Array]) -> str:
    h = hashlib.sha256()
    for key in (gguf.Keys.Tokenizer.MODEL, gguf.Keys.Tokenizer.PRE):
        h.update(str(fields.get(key, "")).encode() + b"\0")
    for key in (gguf.Keys.Tokenizer.LIST, gguf.Keys.Tokenizer.MERGES):
        span = arrays.get(key)
        if span is not None:
            h.update(mm[span.start:span.end])
        h.update(b"\0")
    return h.hexdigest()


def _int(value: Any, default: int) -> int:
    # Some architectures store per-layer values as arrays; the largest one sizes the cache.
    if isinstance(value, list):
        return int(max(value)) if value else default
    return int(value) if value is not None else default


def _info(path: Path, size: int, fields: dict[str, Any], tokenizer_id: str) -> GGUFInfo:
    arch = fields.get(gguf.Keys.General.ARCHITECTURE)
    if not isinstance(arch, str):
        raise SafeLocalError(f"{path} has no general.architecture: it is not a model file llama.cpp can load")

    def get(template: str) -> Any:
        return fields.get(template.format(arch=arch))

    embedding = _int(get(gguf.Keys.LLM.EMBEDDING_LENGTH), 0)
    heads = _int(get(gguf.Keys.Attention.HEAD_COUNT), 0)
    head_dim = embedding // heads if heads else 0
    tokens = fields.get(gguf.Keys.Tokenizer.LIST)
    recurrent = arch in RECURRENT_ARCHITECTURES or any(
        key.startswith(arch + group) for key in fields for group in _RECURRENT_KEY_GROUPS
    )
    context = get(gguf.Keys.LLM.CONTEXT_LENGTH)
    return GGUFInfo(
        path=path,
        file_size=size,
        architecture=arch,
        model_name=fields.get(gguf.Keys.General.NAME),
        recurrent=recurrent,
        context_length=int(context) if context is not None else None,
        block_count=_int(get(gguf.Keys.LLM.BLOCK_COUNT), 0),
        embedding_length=embedding,
        head_count=heads,
        head_count_kv=_int(get(gguf.Keys.Attention.HEAD_COUNT_KV), heads),
        key_length=_int(get(gguf.Keys.Attention.KEY_LENGTH), head_dim),
        value_length=_int(get(gguf.Keys.Attention.VALUE_LENGTH), head_dim),
        vocab_type=fields.get(gguf.Keys.Tokenizer.MODEL),
        vocab_size=tokens.count if isinstance(tokens, _Array) else len(tokens or ()),
        tokenizer_id=tokenizer_id,
    )
