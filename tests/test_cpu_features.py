"""Choosing llama.cpp's instruction sets from what the kernel lists and what a probe runs."""

from __future__ import annotations

import platform

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safe_local import cpu_features as cf

# The machine of the SIGILL report: CPUID advertised AMX, the kernel enabled only the tile flag.
ISSUE_MACHINE = frozenset(
    "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2 avx512f avx512dq avx512cd avx512bw "
    "avx512vl avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni avx512_bf16 avx_vnni amx_tile".split())
ALL_FLAGS = sorted({flag for f in cf.FEATURES for flag in f.kernel_flags})
x86_linux = pytest.mark.skipif(not cf.is_x86_linux(), reason="the probes are x86 code")


def _always(_feature):
    return True


def _enabled(args: list[str]) -> set[str]:
    return {a[2:].split("=")[0] for a in args if a.endswith("=ON")}


def test_kernel_flags_reads_the_first_processor():
    text = "processor\t: 0\nflags\t\t: fpu avx2 amx_tile\nbugs\t\t: spectre\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    assert cf.kernel_flags(text) == {"fpu", "avx2", "amx_tile"}
    assert cf.kernel_flags("processor : 0\n") == frozenset()


def test_issue_machine_gets_avx512_and_vnni_but_no_amx():
    args = cf.cmake_args(cf.decide(ISSUE_MACHINE, run_probe=_always))
    assert args[0] == "-DGGML_NATIVE=OFF"
    on = _enabled(args)
    assert {"GGML_AVX2", "GGML_AVX512", "GGML_AVX512_VNNI", "GGML_AVX512_BF16", "GGML_AVX512_VBMI"} <= on
    assert not on & {"GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"}
    assert "-DGGML_AMX_INT8=OFF" in args  # said explicitly, not left to a default


def test_amx_stays_off_even_where_the_cpu_runs_it():
    # ggml 0.3.36's AMX matmul crashed on a machine whose kernel lists amx_int8 and where the
    # AMX probe passes (cpu_features.GGML_AMX_KERNELS_WORK says why).
    flags = ISSUE_MACHINE | {"amx_int8", "amx_bf16"}
    decisions = cf.decide(flags, run_probe=_always)
    assert all(d.enabled for d in decisions if d.feature.option.startswith("GGML_AMX"))
    assert not _enabled(cf.cmake_args(decisions)) & {"GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"}


def test_amx_needs_a_probe_that_runs(monkeypatch):
    monkeypatch.setattr(cf, "GGML_AMX_KERNELS_WORK", True)  # a llama.cpp whose AMX kernels are fixed
    flags = ISSUE_MACHINE | {"amx_int8", "amx_bf16"}
    assert {"GGML_AMX_TILE", "GGML_AMX_INT8"} <= _enabled(cf.cmake_args(cf.decide(flags, run_probe=_always)))
    no_amx = cf.decide(flags, run_probe=lambda f: not f.probe.startswith("AMX"))
    assert not _enabled(cf.cmake_args(no_amx)) & {"GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"}


def test_amx_without_avx512_vnni_is_left_off(monkeypatch):
    monkeypatch.setattr(cf, "GGML_AMX_KERNELS_WORK", True)
    # ggml's AMX kernels are compiled only together with AVX-512 VNNI.
    flags = (ISSUE_MACHINE | {"amx_int8"}) - {"avx512_vnni"}
    assert not _enabled(cf.cmake_args(cf.decide(flags, run_probe=_always))) & {"GGML_AMX_TILE", "GGML_AMX_INT8"}


@given(st.sets(st.sampled_from(ALL_FLAGS)), st.sets(st.sampled_from([f.option for f in cf.FEATURES])))
def test_nothing_is_enabled_that_the_kernel_does_not_list(flags, failing):
    decisions = cf.decide(frozenset(flags), run_probe=lambda f: f.option not in failing)
    on = _enabled(cf.cmake_args(decisions))
    for feature in cf.FEATURES:
        if feature.option in on:
            assert set(feature.kernel_flags) <= flags
    # every option is stated, so no ggml default can switch one on behind our back
    assert len(cf.cmake_args(decisions)) == 1 + len(cf.FEATURES)


def test_unsupported_compiled_names_what_the_kernel_lacks():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | OPENMP = 1 | REPACK = 1 |"
    assert cf.compiled_features(info) >= {"AVX2", "AMX_INT8", "OPENMP"}
    assert cf.unsupported_compiled(info, ISSUE_MACHINE) == ["AMX_INT8"]
    assert cf.unsupported_compiled(info, ISSUE_MACHINE | {"amx_int8"}) == []
    assert cf.unsupported_compiled(info, frozenset({"sse4_2", "avx", "avx2"})) == ["AMX_INT8", "AVX512", "AVX512_VNNI"]
    assert cf.unsupported_compiled(info, frozenset()) == []  # nothing to compare with: no verdict


@x86_linux
def test_a_probe_that_faults_is_a_no():
    trap = cf.Feature("TEST", (), "", (), "__builtin_trap(); return 0;")  # ud2: a real SIGILL
    assert cf.probe(trap) is False


@x86_linux
def test_a_probe_the_compiler_cannot_build_is_a_no():
    unknown = cf.Feature("TEST", (), "", ("-mno-such-instruction-set",), "return 0;")
    assert cf.probe(unknown) is False


@x86_linux
def test_probes_run_for_what_this_kernel_lists():
    flags = cf.kernel_flags()
    listed = [f for f in cf.FEATURES if set(f.kernel_flags) <= flags]
    assert any(f.option == "GGML_AVX2" for f in listed), "an x86-64 machine of this project has AVX2"
    for feature in listed:
        assert cf.probe(feature), feature.option  # if it failed, the kernel would be lying about it


def test_other_systems_keep_llama_cpp_defaults(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert cf.cmake_args() == []
