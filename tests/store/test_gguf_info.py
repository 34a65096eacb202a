"""Header facts from real GGUF files: the offline models and files written with `gguf`."""

from __future__ import annotations

import pytest

from safe_local.errors import SafeLocalError
from safe_local.store import read_gguf_info, tokenizer_twins
from tests.store.conftest import write_gguf


def test_offline_models(offline_model_paths):
    qwen = read_gguf_info(offline_model_paths["qwen2.5-coder-0.5b"])
    gemma = read_gguf_info(offline_model_paths["gemma3-270m"])
    smol = read_gguf_info(offline_model_paths["smollm2-135m"])
    assert (qwen.architecture, qwen.vocab_type, qwen.vocab_size, qwen.context_length) == ("qwen2", "gpt2", 151936, 32768)
    assert (gemma.architecture, gemma.vocab_type, gemma.vocab_size) == ("gemma3", "llama", 262144)
    assert (gemma.head_count_kv, gemma.key_length, gemma.value_length) == (1, 256, 256)  # explicit key/value lengths
    assert (smol.architecture, smol.vocab_size, smol.block_count, smol.key_length) == ("llama", 49152, 30, 64)  # 576 / 9 heads
    assert not any(i.recurrent for i in (qwen, gemma, smol))
    assert len({qwen.tokenizer_id, gemma.tokenizer_id, smol.tokenizer_id}) == 3
    assert smol.file_size == offline_model_paths["smollm2-135m"].stat().st_size


def test_identical_tokenizers_are_recognised(tmp_path):
    a = read_gguf_info(write_gguf(tmp_path / "a.gguf", tensor_bytes=64))
    b = read_gguf_info(write_gguf(tmp_path / "b.gguf", tensor_bytes=4096))
    c = read_gguf_info(write_gguf(tmp_path / "c.gguf", tokens=["<s>", "x"]))
    assert a.tokenizer_id == b.tokenizer_id != c.tokenizer_id
    assert tokenizer_twins([("a", a), ("b", b), ("c", c)]) == {"a": ["b"], "b": ["a"]}


@pytest.mark.parametrize("arch, extra", [
    ("mamba", {"{arch}.ssm.conv_kernel": 4}),
    ("rwkv6", {"{arch}.wkv.head_size": 64}),
    ("futuressm", {"{arch}.ssm.state_size": 16}),  # unknown name, but state-space keys
])
def test_recurrent_and_hybrid_architectures_are_flagged(tmp_path, arch, extra):
    info = read_gguf_info(write_gguf(tmp_path / "r.gguf", arch, extra=extra))
    assert info.architecture == arch and info.recurrent


def test_not_a_gguf_and_truncated_files(tmp_path):
    other = tmp_path / "x.gguf"
    other.write_bytes(b"<html>not a model</html>")
    with pytest.raises(SafeLocalError, match="is not a GGUF file"):
        read_gguf_info(other)
    real = write_gguf(tmp_path / "real.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(real.read_bytes()[:100])
    with pytest.raises(SafeLocalError, match="truncated or damaged"):
        read_gguf_info(cut)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(SafeLocalError, match="cannot read model file"):
        read_gguf_info(empty)
