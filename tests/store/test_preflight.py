"""Pre-load checks: memory estimates, refusing what cannot fit, refusing recurrent models."""

from __future__ import annotations

import logging
import re

import pytest

from safe_local.errors import SafeLocalError
from safe_local.store import check_ensemble, read_gguf_info
from safe_local.store.memory import available_memory, check_fits, estimate_memory
from tests.store.conftest import write_gguf


def test_estimate_counts_weights_kv_cache_and_buffers(offline_model_paths):
    info = read_gguf_info(offline_model_paths["qwen2.5-coder-0.5b"])
    e = estimate_memory("qwen", info, 4096)
    assert e.weights == info.file_size
    assert e.kv_cache == 24 * 2 * (64 + 64) * 2 * 4096  # layers x kv heads x (k + v) x f16 x context
    assert e.buffers > 151936 * 4 * 64  # logits rows the engine reads at once
    assert estimate_memory("qwen", info, 8192).kv_cache == 2 * e.kv_cache


def test_available_memory_is_read():
    assert available_memory() > 100_000_000


def test_the_offline_trio_fits_and_passes(offline_model_paths):
    models = [(n, offline_model_paths[n]) for n in ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")]
    infos = check_ensemble(models, 4096)
    assert [i.architecture for i in infos] == ["qwen2", "gemma3", "llama"]


def test_an_ensemble_that_cannot_fit_is_refused_with_a_suggestion(offline_model_paths):
    models = [(n, offline_model_paths[n]) for n in ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")]
    with pytest.raises(SafeLocalError) as exc:
        check_ensemble(models, 32768, available=200_000_000)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("the ensemble needs about")
    assert "but only 200.0 MB is available" in message
    assert message.endswith(  # the weights alone are over 200 MB: no context helps
        "use a smaller quantization or model instead of qwen2.5-coder-0.5b, or fewer models "
        "(a shorter context is not enough: even --ctx 512 would not fit)"
    )


def test_models_on_rpc_servers_count_only_their_logits_buffers_here(offline_model_paths):
    models = [(n, offline_model_paths[n]) for n in ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")]
    estimates = {n: estimate_memory(n, read_gguf_info(p), 4096) for n, p in models}
    # room for qwen whole and the other two's buffers, but not for their weights and caches
    room = estimates["qwen2.5-coder-0.5b"].total + estimates["gemma3-270m"].buffers + estimates["smollm2-135m"].buffers
    with pytest.raises(SafeLocalError, match="the ensemble needs about"):
        check_ensemble(models, 4096, available=room)
    check_ensemble(models, 4096, available=room, remote={"gemma3-270m", "smollm2-135m"})
    with pytest.raises(SafeLocalError, match="the ensemble needs about"):
        check_ensemble(models, 4096, available=room - 1, remote={"gemma3-270m", "smollm2-135m"})


def test_a_context_beyond_the_training_context_costs_only_that(offline_model_paths):
    info = read_gguf_info(offline_model_paths["smollm2-135m"])
    huge = estimate_memory("smollm2-135m", info, 100_000_000)  # the backend loads at most 8192
    assert huge.n_ctx == info.context_length == 8192
    check_fits([huge], 100_000_000, available=10**9)


def test_the_suggested_context_is_the_longest_that_fits(offline_model_paths):
    info = read_gguf_info(offline_model_paths["smollm2-135m"])
    full = estimate_memory("smollm2-135m", info, 8192)
    available = full.weights + full.buffers + full.kv_cache // 2
    with pytest.raises(SafeLocalError) as exc:
        check_fits([full], 8192, available)
    suggested = int(re.fullmatch(r".*, or a shorter context \(--ctx (\d+)\)", str(exc.value))[1])
    assert suggested % 256 == 0 and suggested > 512
    check_fits([estimate_memory("smollm2-135m", info, suggested)], suggested, available)
    with pytest.raises(SafeLocalError):
        check_fits([estimate_memory("smollm2-135m", info, suggested + 256)], suggested + 256, available)


def test_check_fits_passes_when_there_is_room(offline_model_paths):
    info = read_gguf_info(offline_model_paths["smollm2-135m"])
    check_fits([estimate_memory("smol", info, 2048)], 2048, available=10**10)


def test_recurrent_models_are_refused(tmp_path, offline_model_paths):
    mamba = write_gguf(tmp_path / "mamba.gguf", "mamba", extra={"{arch}.ssm.conv_kernel": 4})
    with pytest.raises(SafeLocalError, match="mamba-x is a recurrent/hybrid model .mamba.: SAFE must roll back"):
        check_ensemble([("smol", offline_model_paths["smollm2-135m"]), ("mamba-x", mamba)], 2048)


def test_identical_tokenizers_are_allowed_and_said(tmp_path, caplog):
    a, b = write_gguf(tmp_path / "a.gguf"), write_gguf(tmp_path / "b.gguf")
    with caplog.at_level(logging.INFO, logger="safe_local.store.preflight"):
        check_ensemble([("a", a), ("b", b)], 512)
    assert "a has the same tokenizer as b" in caplog.text


def test_ensemble_load_runs_the_checks_before_loading_anything(tmp_path):
    from safe_local.api import Ensemble

    mamba = write_gguf(tmp_path / "mamba.gguf", "mamba", extra={"{arch}.ssm.conv_kernel": 4})
    with pytest.raises(SafeLocalError, match="mamba is a recurrent/hybrid model"):
        Ensemble.load(["smollm2-135m", str(mamba)])
    with pytest.raises(SafeLocalError, match="^qwen2.5-1.5b.* not downloaded yet: run: safe-local pull qwen2.5-1.5b"):
        Ensemble.load(preset="laptop")
