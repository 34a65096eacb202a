"""`safe-local doctor`'s checks: real decodes of the offline models in child processes."""

from __future__ import annotations

import sys

import pytest

from safe_local import diagnostics


@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m"])
def test_batches_of_1_6_and_64_decode_on_each_offline_model(name, offline_model_paths):
    # The batch sizes that reach llama.cpp's different matmul kernels (vector, tiled, AMX/llamafile).
    check = diagnostics.check_decode(name, offline_model_paths[name], batches=(1, 6, 64))
    assert check.ok, check.message  # the doctor's one-line diagnosis, e.g. SIGILL and its fix
    assert [b["tokens"] for b in check.details["batches"]] == [1, 6, 64]
    assert check.details["top_token_agrees"]
    assert check.details["max_relative_diff"] <= 0.15


def test_the_build_uses_only_what_this_cpu_offers():
    info = diagnostics.llama_info()
    assert info.ok, info.message
    assert "CPU :" in info.details["system_info"]
    build = diagnostics.check_build(info.details["system_info"])
    assert build.ok, build.message


def test_a_build_compiled_beyond_the_cpu_is_diagnosed():
    flags = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "amx_tile"})
    check = diagnostics.check_build("CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 |", flags)
    assert not check.ok
    assert "AMX_INT8, AVX512" in check.message and diagnostics.REBUILD in check.message
    assert "\n" not in check.message


def test_a_build_with_amx_is_diagnosed_where_the_cpu_has_it():
    flags = frozenset({"sse4_2", "avx", "avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"})
    check = diagnostics.check_build("CPU : AVX2 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 |", flags)
    assert not check.ok and "AMX" in check.message and diagnostics.REBUILD in check.message


def test_a_child_killed_by_sigill_becomes_one_line_with_the_fix():
    command = [sys.executable, "-c", "import os, signal; print('{}'); os.kill(os.getpid(), signal.SIGILL)"]
    output, failure = diagnostics.run_child(command, timeout=60)
    assert failure is not None and "SIGILL" in failure and diagnostics.REBUILD in failure
    assert "\n" not in failure


def test_a_child_that_hangs_is_stopped():
    never = "import threading; threading.Event().wait()"  # blocks until killed
    output, failure = diagnostics.run_child([sys.executable, "-c", never], timeout=1)
    assert output is None and "did not finish within 1 s" in failure


def test_a_child_that_prints_nothing_or_fails_is_a_failure():
    output, failure = diagnostics.run_child([sys.executable, "-c", "pass"], timeout=60)
    assert output is None and failure == "printed no result"
    output, failure = diagnostics.run_child([sys.executable, "-c", "raise SystemExit('no model file')"], timeout=60)
    assert output is None and failure.startswith("exited with status 1") and "no model file" in failure
