"""Build llama-cpp-python for this machine's CPU, keep the wheel keyed by its flags, install it.

Run with the virtualenv's Python (`make` does): `.venv/bin/python scripts/build_llama.py`.

Why not a plain `pip install llama-cpp-python`: that compiles llama.cpp with `-march=native`,
which trusts CPUID; on virtual machines whose kernel has not enabled all of what CPUID
advertises (AMX was seen), the build dies with SIGILL. The CMake options here come from
safe_local/cpu_features.py instead: each instruction set the kernel lists and a probe runs.
`SAFE_LOCAL_CMAKE_ARGS`, when set, replaces them (Metal, CUDA, Vulkan, or `-DGGML_NATIVE=ON`) and
is remembered in the virtualenv for later runs; `SAFE_LOCAL_CMAKE_ARGS=auto` goes back. Every
build has llama.cpp's RPC backend (models on other hosts, `--models name@host:port`) unless the
options say `-DGGML_RPC=...` themselves; RDMA stays off, so the wheel does not depend on whether
libibverbs happened to be installed where it was built.

pip's own wheel cache is keyed by the source link, not by CMAKE_ARGS, so it would hand a wheel
built with other flags (or on another machine sharing the cache) back silently. The wheel is
built with pip's cache off and kept in a wheelhouse under pip's cache directory, in a folder
named by a hash of everything that shapes it: package version and sdist hash, CMake options,
Python version, platform and compiler. A flag change builds once; an unchanged machine never
rebuilds, even after `make clean`. The folder appears only when the build is complete, so an
interrupted build leaves nothing half-made behind.

    --print-args   print the CMake options this machine gets, and why, then exit
    --check        exit 1 unless the installed build is the one this machine should have
    --rebuild      build again even when the wheelhouse has this key's wheel
    --wheel-only   build (or reuse) the wheel, print its path, install nothing (bench_builds.py)
    --stamp PATH   write the build record there when it changes (make's dependency stamp)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = ROOT / "requirements" / "llama-cpp-python.txt"
OVERRIDE_ENV = "SAFE_LOCAL_CMAKE_ARGS"
RPC_ARGS = ["-DGGML_RPC=ON", "-DGGML_RPC_RDMA=OFF"]


def _cpu_features():
    # Loaded by path: importing the safe_local package would need its dependencies installed.
    spec = importlib.util.spec_from_file_location("_cpu_features", ROOT / "safe_local" / "cpu_features.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def pinned() -> tuple[str, str, str]:
    """(name, version, sdist sha256) from requirements/llama-cpp-python.txt."""
    text = REQUIREMENT.read_text()
    match = re.search(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)[\s\\]*--hash=sha256:([0-9a-f]{64})", text, re.MULTILINE)
    if not match:
        sys.exit(f"build_llama: {REQUIREMENT} has no 'name==version --hash=sha256:...' line")
    return match.group(1), match.group(2), match.group(3)


def saved_choice() -> Path:
    return Path(sys.prefix) / "llama-cmake-args"


def cmake_option(args: list[str], name: str) -> str | None:
    """The value `args` give CMake cache variable `name` (-DNAME=V, -DNAME:TYPE=V, -D NAME=V; the last wins)."""
    value, tokens = None, iter(args)
    for arg in tokens:
        if arg == "-D":
            arg = "-D" + next(tokens, "")
        match = re.fullmatch(r"-D(\w+)(?::\w+)?=(.*)", arg)
        if match and match[1] == name:
            value = match[2]
    return value


def cmake_true(value: str | None) -> bool:
    return value is not None and value.upper() in {"1", "ON", "YES", "TRUE", "Y"}


def with_rpc(args: list[str]) -> list[str]:
    """`args` plus the RPC backend, unless they decide about it themselves."""
    return args if cmake_option(args, "GGML_RPC") is not None else args + RPC_ARGS


def chosen_args(save: bool = False) -> tuple[list[str], str]:
    """The CMake options (with the RPC backend, see with_rpc) and where they came from."""
    args, why = _chosen_args(save)
    return with_rpc(args), why


def _chosen_args(save: bool) -> tuple[list[str], str]:
    """The CMake options and where they came from.

    A SAFE_LOCAL_CMAKE_ARGS given once is remembered in the virtualenv (with `save`), so a later
    plain `make` keeps that build; SAFE_LOCAL_CMAKE_ARGS=auto goes back to the derived options.
    """
    override = os.environ.get(OVERRIDE_ENV)
    if override is not None and override.strip() != "auto":
        if save:
            saved_choice().write_text(override + "\n")
        return shlex.split(override), f"from {OVERRIDE_ENV}"
    if override is not None and save:
        saved_choice().unlink(missing_ok=True)
    elif override is None and saved_choice().exists():
        return (shlex.split(saved_choice().read_text()),
                f"from {saved_choice()}, saved from an earlier {OVERRIDE_ENV} ({OVERRIDE_ENV}=auto goes back)")
    cpu = _cpu_features()
    if not cpu.is_x86_linux():
        return [], "llama.cpp's defaults (not x86 Linux: Metal on macOS, the CPU's own on ARM)"
    decisions = cpu.decide()
    why = "from the instruction sets this kernel lists and a probe runs"
    if any(d.enabled for d in decisions if d.feature.option.startswith("GGML_AMX")) and not cpu.GGML_AMX_KERNELS_WORK:
        why += "; this CPU runs AMX, but ggml's AMX kernels in this llama.cpp crash, so AMX is off"
    return cpu.cmake_args(decisions), why


def compiler_id() -> str:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or "cc"
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return compiler
    return out.splitlines()[0] if out else compiler


def build_key(version: str, sdist_sha256: str, args: list[str], python: str, plat: str, compiler: str) -> str:
    """A hash of everything that makes two builds differ; the wheelhouse folder is named by it.

    CFLAGS and CXXFLAGS, which CMake adds to every compile, count too.
    """
    record = {"version": version, "sdist": sdist_sha256, "cmake_args": args,
              "python": python, "platform": plat, "compiler": compiler}
    record |= {name: os.environ[name] for name in ("CFLAGS", "CXXFLAGS") if os.environ.get(name)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def wheelhouse_root() -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        return Path(done.stdout.strip()) / "safe-local-wheelhouse"
    return Path(sys.prefix) / "wheelhouse"  # pip's cache is off: keep the wheel in the venv


def build(folder: Path, args: list[str]) -> None:
    """Build the wheel into `folder`, which appears only once the wheel is complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CMAKE_ARGS=" ".join(args), FORCE_CMAKE="1")
    print(f"build_llama: building llama-cpp-python with CMAKE_ARGS={' '.join(args) or '(none)'}"
          " (a few minutes on two cores)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix=folder.name + ".", dir=folder.parent) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
                        "--require-hashes", "-r", str(REQUIREMENT), "-w", tmp], env=env, check=True,
                       stdout=sys.stderr)  # stdout is for --wheel-only's path
        Path(tmp, "build.json").write_text(json.dumps({"cmake_args": args, "compiler": compiler_id()}, indent=1))
        shutil.rmtree(folder, ignore_errors=True)  # --rebuild
        os.rename(tmp, folder)
        os.mkdir(tmp)  # TemporaryDirectory removes it on exit


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print-args", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--wheel-only", action="store_true")
    parser.add_argument("--stamp", type=Path, default=Path(sys.prefix) / ".llama.stamp")
    opts = parser.parse_args()

    name, version, sdist = pinned()
    args, why = chosen_args(save=not (opts.print_args or opts.check or opts.wheel_only))
    if opts.print_args:
        print(" ".join(args))
        print(f"({why})", file=sys.stderr)
        return 0

    key = build_key(version, sdist, args, sys.implementation.cache_tag, sysconfig.get_platform(), compiler_id())
    record = json.dumps({"package": f"{name}=={version}", "key": key, "cmake_args": args}, indent=1) + "\n"
    current = opts.stamp.read_text() if opts.stamp.exists() else None
    up_to_date = current == record and installed_version(name) == version
    if opts.check:
        print("build_llama: " + ("the installed build matches this machine" if up_to_date else
                                 "the installed build is not this machine's: run `make rebuild-llama`"))
        return 0 if up_to_date else 1
    if up_to_date and not (opts.rebuild or opts.wheel_only):
        return 0

    folder = wheelhouse_root() / f"{name}-{version}-{key}"
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if opts.rebuild or not wheels:
        build(folder, args)
        wheels = sorted(folder.glob("*.whl"))
    else:
        print(f"build_llama: reusing {wheels[0]} (built with: {' '.join(args) or '(none)'})", file=sys.stderr)
    if opts.wheel_only:
        print(wheels[0])
        return 0
    pip = [sys.executable, "-m", "pip", "install", "--no-cache-dir"]
    subprocess.run(pip + ["--force-reinstall", "--no-deps", str(wheels[0])], check=True)
    subprocess.run(pip + [str(wheels[0])], check=True)  # its dependencies, when missing
    opts.stamp.write_text(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
