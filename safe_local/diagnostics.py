"""What `safe-local doctor` checks: the llama.cpp build against this CPU, and a real decode.

Everything that touches llama.cpp runs in a child process (safe_local.backend.decode_probe), so
a build that dies with SIGILL or SIGSEGV becomes one line here that names the cause and the fix
instead of killing the caller. `check_build` compares the instruction sets llama.cpp says it
was compiled with against those the kernel lists (safe_local.cpu_features); `check_decode`
decodes batches of several sizes on one model and checks the logits agree across them.

Left out on purpose: printing (safe_local.commands.doctor does it) and fixing anything: the
fix is a rebuild, which `make rebuild-llama` does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from safe_local import cpu_features

REBUILD = "make rebuild-llama"
DEFAULT_BATCHES = (64, 6, 1)


@dataclass
class Check:
    """One finding: ok or not, a one-line message (with the fix when not ok), and the details."""

    name: str
    ok: bool
    message: str
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def _death(returncode: int) -> str:
    """Why a child that did not exit normally stopped, in words."""
    if returncode == -signal.SIGILL:
        return ("died with SIGILL (illegal instruction): llama.cpp was built for instructions this CPU "
                f"or its kernel does not execute; rebuild it for this machine: {REBUILD}")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"died with {name} inside llama.cpp; rebuild it for this machine ({REBUILD}) and run doctor again"
    return f"exited with status {returncode}" if returncode else "printed no result"


def _probe_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "safe_local.backend.decode_probe", *args]


def run_child(command: Sequence[str], timeout: float) -> tuple[dict | None, str | None]:
    """Run a child that prints one JSON line: (its output, None), or (what it printed, why it failed)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s (a machine this slow cannot run the models)"
    output = None
    lines = done.stdout.strip().splitlines()
    if lines:
        try:
            output = json.loads(lines[-1])
        except json.JSONDecodeError:
            output = None
    if done.returncode < 0 or output is None:
        tail = done.stderr.strip().splitlines()[-1:] if done.stderr.strip() else []
        reason = _death(done.returncode)
        return output, reason + (f" (last words: {tail[0][:200]})" if tail and done.returncode > 0 else "")
    return output, None


def llama_info(timeout: float = 120.0) -> Check:
    """llama.cpp's version and system info (compiled features, e.g. `AVX512 = 1`)."""
    info, failure = run_child(_probe_command("info"), timeout)
    if failure or info is None:
        return Check("llama.cpp", False, f"loading llama.cpp {failure or 'printed nothing'}")
    return Check("llama.cpp", True, f"llama-cpp-python {info['llama_cpp_python']}", info)


def check_build(system_info: str, flags: frozenset[str] | None = None) -> Check:
    """The build's instruction sets against what this kernel lists."""
    flags = cpu_features.kernel_flags() if flags is None else flags
    details = {"cpu_offers": cpu_features.offered(flags),
               "compiled": sorted(cpu_features.compiled_features(system_info))}
    missing = cpu_features.unsupported_compiled(system_info, flags)
    if missing:
        return Check("build", False, f"llama.cpp was compiled with {', '.join(missing)}, which this CPU's kernel does "
                     f"not offer: it will crash with SIGILL; rebuild it for this machine: {REBUILD}", details)
    if "AMX_INT8" in details["compiled"] and not cpu_features.GGML_AMX_KERNELS_WORK:
        return Check("build", False, "llama.cpp was compiled with AMX, whose matmul kernels crash with SIGILL in this "
                     f"llama.cpp version even where the CPU runs AMX; rebuild it without: {REBUILD} "
                     "(with SAFE_LOCAL_CMAKE_ARGS=auto if you chose AMX yourself)", details)
    if not flags:
        return Check("build", True, "no CPU flags to compare with on this system (not Linux)", details)
    return Check("build", True, "every instruction set llama.cpp was compiled with is offered by this CPU", details)


def check_decode(name: str, path: Path, batches: Sequence[int] = DEFAULT_BATCHES,
                 threads: int | None = None, timeout: float = 600.0) -> Check:
    """Decode batches of `batches` tokens on one model in a child; a crash is a diagnosis."""
    args = ["decode", str(path), "--batches", ",".join(str(b) for b in batches)]
    if threads:
        args += ["--threads", str(threads)]
    result, failure = run_child(_probe_command(*args), timeout)
    sizes = "/".join(str(b) for b in batches)
    if failure:
        return Check(name, False, f"decoding batches of {sizes} tokens {failure}", result or {})
    assert result is not None  # run_child reports a missing result as a failure
    speed = ", ".join(f"{b['tokens']} tok {1000 * b['seconds']:.0f} ms" for b in result["batches"])
    if not result["ok"]:
        return Check(name, False, f"decoding batches of {sizes} tokens gives logits that disagree across batch sizes "
                     f"(max difference {result['max_relative_diff']:.3g} of the row's spread): the build computes "
                     f"wrong results here; rebuild it for this machine: {REBUILD}", result)
    return Check(name, True, f"decoded batches of {sizes} tokens ({speed}; rows agree within "
                 f"{100 * result['max_relative_diff']:.2f} % of their spread)", result)
