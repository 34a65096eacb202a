"""Which x86 instruction sets llama.cpp may use here, decided by what the OS confirms.

`-march=native` (ggml's default, GGML_NATIVE) asks the compiler, which reads CPUID. On a
virtual machine CPUID can advertise more than the kernel has enabled: an Intel Xeon guest was
seen listing `amx_tile` but not `amx_int8` in /proc/cpuinfo while gcc's native detection still
turned on `-mamx-int8`, and ggml's AMX matmul then died with SIGILL. So here an instruction set
is used only when (1) the kernel lists it in /proc/cpuinfo's flags, which it clears for
features whose register state it has not enabled, and (2) a tiny program that executes it,
compiled with the matching `-m` flag, runs to completion in a child process. AMX additionally
needs its tile-data permission from the kernel (arch_prctl), which the probe requests just as
ggml does; and even where all of that holds, AMX stays off, since ggml's AMX kernels in this
llama.cpp version crash on their own (see GGML_AMX_KERNELS_WORK).

The result is a list of CMake options for llama-cpp-python's build (`cmake_args`) and, for
`safe-local doctor`, a comparison of what a built llama.cpp says it was compiled with against
what this CPU offers (`unsupported_compiled`).

Left out on purpose: non-x86 CPUs and macOS, where llama.cpp's own defaults (NEON, Metal) are
kept; building or installing anything (scripts/build_llama.py does that). This module imports
only the standard library, so the build script can load it before anything is installed.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Feature:
    """One ggml build option, the kernel flags it needs and how to prove it runs."""

    option: str  # the ggml CMake option, e.g. GGML_AVX512
    kernel_flags: tuple[str, ...]  # every one must be in /proc/cpuinfo's flags
    system_info: str  # how llama.cpp's system info names it ("" when it does not)
    cc_flags: tuple[str, ...]  # the compiler flags ggml adds for the option
    probe: str  # C statements that execute the instructions; `x` is a runtime int


FEATURES: tuple[Feature, ...] = (
    Feature("GGML_SSE42", ("sse4_2",), "", ("-msse4.2",),
            "return (int)_mm_crc32_u32((unsigned)x, 7u) == 12345;"),
    Feature("GGML_AVX", ("avx",), "AVX", ("-mavx",),
            "__m256 a = _mm256_set1_ps((float)x); a = _mm256_add_ps(a, a);"
            " return (int)_mm256_cvtss_f32(a) == 12345;"),
    Feature("GGML_AVX2", ("avx2",), "AVX2", ("-mavx2",),
            "__m256i a = _mm256_set1_epi32(x); a = _mm256_add_epi32(a, a);"
            " return _mm256_extract_epi32(a, 3) == 12345;"),
    Feature("GGML_FMA", ("fma",), "FMA", ("-mfma",),
            "__m256 a = _mm256_set1_ps((float)x); a = _mm256_fmadd_ps(a, a, a);"
            " return (int)_mm256_cvtss_f32(a) == 12345;"),
    Feature("GGML_F16C", ("f16c",), "F16C", ("-mf16c",),
            "__m128 a = _mm_cvtph_ps(_mm_set1_epi16((short)x));"
            " return (int)_mm_cvtss_f32(a) == 12345;"),
    Feature("GGML_BMI2", ("bmi2",), "BMI2", ("-mbmi2",),
            "return (int)_pdep_u32((unsigned)x, 0xF0F0u) == 12345;"),
    Feature("GGML_AVX_VNNI", ("avx_vnni",), "AVX_VNNI", ("-mavx2", "-mavxvnni"),
            "__m256i a = _mm256_set1_epi32(x); a = _mm256_dpbusd_avx_epi32(a, a, a);"
            " return _mm256_extract_epi32(a, 1) == 12345;"),
    Feature("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"), "AVX512",
            ("-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"),
            "__m512i a = _mm512_set1_epi32(x); a = _mm512_add_epi32(a, a);"
            " __m512i b = _mm512_abs_epi8(a); return _mm512_reduce_add_epi32(b) == 12345;"),
    Feature("GGML_AVX512_VBMI", ("avx512vbmi",), "AVX512_VBMI", ("-mavx512f", "-mavx512vbmi"),
            "__m512i a = _mm512_set1_epi32(x); a = _mm512_permutexvar_epi8(a, a);"
            " return _mm512_reduce_add_epi32(a) == 12345;"),
    Feature("GGML_AVX512_VNNI", ("avx512_vnni",), "AVX512_VNNI", ("-mavx512f", "-mavx512vnni"),
            "__m512i a = _mm512_set1_epi32(x); a = _mm512_dpbusd_epi32(a, a, a);"
            " return _mm512_reduce_add_epi32(a) == 12345;"),
    Feature("GGML_AVX512_BF16", ("avx512_bf16",), "AVX512_BF16", ("-mavx512f", "-mavx512bf16"),
            "__m512 a = _mm512_set1_ps((float)x); __m512bh b = _mm512_cvtne2ps_pbh(a, a);"
            " __m512 c = _mm512_dpbf16_ps(a, b, b); return (int)_mm512_reduce_add_ps(c) == 12345;"),
    # The three AMX options go together: ggml's AMX kernels need the tiles and int8 products.
    Feature("GGML_AMX_TILE", ("amx_tile", "amx_int8"), "", ("-mamx-tile", "-mamx-int8"), "AMX"),
    Feature("GGML_AMX_INT8", ("amx_tile", "amx_int8"), "AMX_INT8", ("-mamx-tile", "-mamx-int8"), "AMX"),
    Feature("GGML_AMX_BF16", ("amx_tile", "amx_bf16"), "", ("-mamx-tile", "-mamx-bf16"),
            "AMX _tile_dpbf16ps(3, 1, 2);"),
)

# A 4x16 by 16x4 int8 tile product checked against the same sum done with plain loops. The
# permission request is ggml's own (ggml-cpu/amx/amx.cpp, ggml_amx_init).
_AMX_BODY = r"""
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return 2;
    struct { uint8_t palette, start; uint8_t reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 4; t++) { c.rows[t] = 4; c.colsb[t] = 16; }
    _tile_loadconfig(&c);
    int8_t a[4][16], b[4][16];
    int32_t out[4][4], ref[4][4] = {{0}};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 16; k++) { a[i][k] = (int8_t)(i + k - 7 + x); b[i][k] = (int8_t)(3 * i - k); }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 16; k++) ref[i][j] += a[i][k] * b[k / 4][j * 4 + k % 4];
    _tile_zero(0);
    _tile_loadd(1, a, 16);
    _tile_loadd(2, b, 16);
    _tile_dpbssd(0, 1, 2);
    EXTRA
    _tile_stored(0, out, 16);
    _tile_release();
    return memcmp(out, ref, sizeof out) ? 3 : 0;
"""

# Even where the CPU runs AMX (the kernel lists amx_int8 and the probe below passes), the AMX
# matmul of the llama.cpp that llama-cpp-python 0.3.36 vendors died with SIGILL on this
# project's Xeon machine (2026-12-02): `tilezero` in a worker thread of ggml_backend_amx_mul_mat
# after a tile configuration that never took effect (upstream: llama.cpp PR 26954, which moves
# the configuration out of the stack and requests the tile permission per thread). So AMX is
# never chosen; SAFE_LOCAL_CMAKE_ARGS can still ask for it. The probe still runs, so the build
# script can say that the CPU has AMX and why it is off.
GGML_AMX_KERNELS_WORK = False

_PROBE_TEMPLATE = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argv;
    volatile int x = argc;
    %s
}
"""


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def kernel_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU flags the running kernel lists (first processor of /proc/cpuinfo); empty elsewhere."""
    match = re.search(r"^flags\s*:\s*(.*)$", _cpuinfo() if cpuinfo is None else cpuinfo, re.MULTILINE)
    return frozenset(match.group(1).split()) if match else frozenset()


def model_name() -> str:
    """The CPU's marketing name where /proc/cpuinfo has one, else what the platform module says."""
    match = re.search(r"^model name\s*:\s*(.*)$", _cpuinfo(), re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def is_x86_linux() -> bool:
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def _probe_source(feature: Feature) -> str:
    if not feature.probe.startswith("AMX"):
        return _PROBE_TEMPLATE % _wrap(feature.probe)
    extra = feature.probe[len("AMX"):].strip()
    return _PROBE_TEMPLATE % _AMX_BODY.replace("EXTRA", extra)


def _wrap(statements: str) -> str:
    # The probe's comparison with 12345 is never true: it only keeps the result alive, so the
    # compiler cannot drop the instructions; the program exits 0 when they ran.
    return statements.replace("return ", "int unused = ") + " return unused ? 1 : 0;"


def probe(feature: Feature, compiler: str | None = None, timeout: float = 30.0) -> bool:
    """Compile the feature's probe with its flags and run it; True only if it exits 0."""
    compiler = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return False
    with tempfile.TemporaryDirectory(prefix="safe-local-probe-") as tmp:
        source, binary = Path(tmp, "probe.c"), Path(tmp, "probe")
        source.write_text(_probe_source(feature))
        try:
            built = subprocess.run([compiler, "-O1", *feature.cc_flags, str(source), "-o", str(binary)],
                                   capture_output=True, timeout=timeout)
            if built.returncode != 0:
                return False
            return subprocess.run([str(binary)], capture_output=True, timeout=timeout).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


@dataclass(frozen=True)
class Decision:
    feature: Feature
    listed: bool  # the kernel lists every flag the feature needs
    works: bool  # ...and the probe ran

    @property
    def enabled(self) -> bool:
        return self.listed and self.works


def decide(flags: frozenset[str] | None = None, run_probe: Callable[[Feature], bool] = probe) -> list[Decision]:
    """One decision per ggml option: listed by the kernel, and proven by a probe."""
    flags = kernel_flags() if flags is None else flags
    decisions, proven = [], {}
    for feature in FEATURES:
        listed = all(f in flags for f in feature.kernel_flags)
        key = (feature.cc_flags, feature.probe)
        if listed and key not in proven:
            proven[key] = run_probe(feature)
        decisions.append(Decision(feature, listed, listed and proven[key]))
    return decisions


def cmake_args(decisions: list[Decision] | None = None) -> list[str]:
    """llama-cpp-python CMake options for this machine: native detection off, each set explicit.

    Off x86 Linux this returns [] so llama.cpp's defaults apply (Metal on macOS, NEON on ARM).
    """
    if decisions is None:
        if not is_x86_linux():
            return []
        decisions = decide()
    enabled = {d.feature.option for d in decisions if d.enabled}
    # ggml's AMX kernels need all three of tile, int8 and AVX-512 VNNI, or none.
    amx = {"GGML_AMX_TILE", "GGML_AMX_INT8"}
    if not (GGML_AMX_KERNELS_WORK and amx <= enabled and "GGML_AVX512_VNNI" in enabled):
        enabled -= amx | {"GGML_AMX_BF16"}
    return ["-DGGML_NATIVE=OFF"] + [f"-D{d.feature.option}={'ON' if d.feature.option in enabled else 'OFF'}"
                                    for d in decisions]


def compiled_features(system_info: str) -> frozenset[str]:
    """Names llama.cpp's system info marks `= 1` (e.g. "AVX2 = 1 | AMX_INT8 = 1")."""
    return frozenset(re.findall(r"([A-Z0-9_]+) = 1", system_info))


def unsupported_compiled(system_info: str, flags: frozenset[str] | None = None) -> list[str]:
    """Instruction sets llama.cpp was compiled with that this CPU's kernel does not list.

    Any entry means the build will die with SIGILL (or may, where the kernel is wrong about
    nothing and CPUID about everything): it has to be rebuilt for this machine.
    """
    flags = kernel_flags() if flags is None else flags
    if not flags:
        return []  # nothing to compare with (not Linux)
    compiled = compiled_features(system_info)
    return sorted({f.system_info for f in FEATURES
                   if f.system_info and f.system_info in compiled
                   and not all(k in flags for k in f.kernel_flags)})


def offered(flags: frozenset[str] | None = None) -> list[str]:
    """The llama.cpp-relevant instruction sets the kernel lists, in FEATURES order."""
    flags = kernel_flags() if flags is None else flags
    names = []
    for f in FEATURES:
        name = f.option.removeprefix("GGML_")
        if all(k in flags for k in f.kernel_flags) and name not in names:
            names.append(name)
    return names
