"""Fixtures for the store tests: an isolated environment, small real GGUF files, a local Hub
and a local package index.

Every test here runs with SAFE_LOCAL_HOME (config and data) and HF_HUB_CACHE in its tmp_path
and HF_ENDPOINT and PIP_INDEX_URL on a loopback port nothing listens on, so nothing reaches the
internet, the user's config or the user's Hugging Face cache. Only safe-local's cache directory
is shared (linked) with the session's, so the offline models are not assembled again for every
test. Tests that need a Hub start the stand-in from hub_server.py and point HF_ENDPOINT at it;
tests that need a package index start index_server.py's and point PIP_INDEX_URL at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import gguf
import numpy as np
import pytest

from safe_local import paths
from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_path
from tests.store.hub_server import FakeHub, HubServer
from tests.store.index_server import FakeIndex, IndexServer

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: refused at once


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_model_paths) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "cache").symlink_to(paths.cache_dir(), target_is_directory=True)
    monkeypatch.setenv("SAFE_LOCAL_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.setenv("PIP_INDEX_URL", f"{UNREACHABLE}/simple")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path / "hf"


def one_line_error(call, *args, **kwargs) -> str:
    """The message of the SafeLocalError ``call`` raises, checked to be one line."""
    with pytest.raises(SafeLocalError) as exc:
        call(*args, **kwargs)
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def write_gguf(path: Path, arch: str = "llama", *, tokens: list[str] | None = None,
               extra: dict[str, int] | None = None, tensor_bytes: int = 4096) -> Path:
    """A small but real GGUF model file (header, tokenizer, one tensor) written with gguf."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(2048)
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens or ["<s>", "</s>", "a", "b", "ab"])
    for key, value in (extra or {}).items():
        writer.add_uint32(key.format(arch=arch), value)
    writer.add_tensor("token_embd.weight", np.arange(tensor_bytes // 4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def small_gguf(tmp_path: Path) -> Path:
    return write_gguf(tmp_path / "tiny-Q4_K_M.gguf", tensor_bytes=256 * 1024)


@pytest.fixture(scope="session")
def smol_gguf() -> Path:
    """The real SmolLM2-135M GGUF (98 MB) from its PyPI package: big enough for several chunks."""
    return offline_model_path("smollm2-135m")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with HubServer() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    with IndexServer() as fake:
        monkeypatch.setenv("PIP_INDEX_URL", fake.simple)
        yield fake
