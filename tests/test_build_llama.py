"""scripts/build_llama.py: the wheel's key, the override, and that the installed build is this machine's."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from safe_local import cpu_features

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_llama.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("build_llama", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _print_args(**env: str) -> str:
    environment = os.environ | {"SAFE_LOCAL_CMAKE_ARGS": "auto"} | env
    done = subprocess.run([sys.executable, str(SCRIPT), "--print-args"], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_pin_matches_pyproject():
    name, version, sdist = _script_module().pinned()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"{name}=={version}" in deps
    assert re.fullmatch(r"[0-9a-f]{64}", sdist)


def test_the_key_changes_with_each_thing_that_shapes_the_wheel():
    key = _script_module().build_key
    base = ("0.3.36", "ab" * 32, ["-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON"], "cpython-311", "linux-x86_64", "gcc 12")
    assert key(*base) == key(*base)
    variants = [
        ("0.3.37",) + base[1:],
        base[:1] + ("cd" * 32,) + base[2:],
        base[:2] + (["-DGGML_NATIVE=OFF", "-DGGML_AVX2=OFF"],) + base[3:],
        base[:3] + ("cpython-312",) + base[4:],
        base[:4] + ("macosx-14-arm64",) + base[5:],
        base[:5] + ("clang 17",),
    ]
    assert len({key(*v) for v in variants} | {key(*base)}) == len(variants) + 1


def test_compiler_flags_from_the_environment_change_the_key(monkeypatch):
    key = _script_module().build_key
    base = ("0.3.36", "ab" * 32, ["-DGGML_NATIVE=ON"], "cpython-311", "linux-x86_64", "gcc 12")
    monkeypatch.delenv("CFLAGS", raising=False)
    monkeypatch.delenv("CXXFLAGS", raising=False)
    plain = key(*base)
    monkeypatch.setenv("CXXFLAGS", "-mno-amx-tile")
    assert key(*base) != plain


def test_print_args_is_what_cpu_features_decides():
    expected = " ".join(cpu_features.cmake_args() + ["-DGGML_RPC=ON", "-DGGML_RPC_RDMA=OFF"])
    assert _print_args() == expected


def test_the_override_replaces_the_derived_options_and_keeps_rpc_unless_it_says_otherwise():
    assert _print_args(SAFE_LOCAL_CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_RPC=OFF") == "-DGGML_NATIVE=ON -DGGML_RPC=OFF"
    assert _print_args(SAFE_LOCAL_CMAKE_ARGS="") == "-DGGML_RPC=ON -DGGML_RPC_RDMA=OFF"


@pytest.mark.parametrize("args, value", [
    (["-DGGML_RPC=OFF"], "OFF"), (["-D", "GGML_RPC=OFF"], "OFF"), (["-DGGML_RPC:BOOL=off"], "off"),
    (["-DGGML_RPC_RDMA=ON"], None), (["-DGGML_RPC=ON", "-DGGML_RPC=0"], "0"), ([], None),
])
def test_the_rpc_option_is_read_as_cmake_reads_it(args, value):
    module = _script_module()
    assert module.cmake_option(args, "GGML_RPC") == value
    assert module.with_rpc(args) == (args + ["-DGGML_RPC=ON", "-DGGML_RPC_RDMA=OFF"] if value is None else args)
    assert module.cmake_true("on") and module.cmake_true("1")
    assert not module.cmake_true("0") and not module.cmake_true(None)


def test_an_override_is_remembered_until_auto(tmp_path, monkeypatch):
    module = _script_module()
    monkeypatch.setattr(module, "saved_choice", lambda: tmp_path / "llama-cmake-args")
    monkeypatch.setenv("SAFE_LOCAL_CMAKE_ARGS", "-DGGML_VULKAN=ON")
    rpc = ["-DGGML_RPC=ON", "-DGGML_RPC_RDMA=OFF"]
    assert module.chosen_args(save=True)[0] == ["-DGGML_VULKAN=ON", *rpc]
    monkeypatch.delenv("SAFE_LOCAL_CMAKE_ARGS")
    args, why = module.chosen_args()
    assert args == ["-DGGML_VULKAN=ON", *rpc] and "saved" in why  # a later plain `make` keeps the choice
    monkeypatch.setenv("SAFE_LOCAL_CMAKE_ARGS", "auto")
    assert module.chosen_args(save=True)[0] == cpu_features.cmake_args() + rpc
    monkeypatch.delenv("SAFE_LOCAL_CMAKE_ARGS")
    assert module.chosen_args()[0] == cpu_features.cmake_args() + rpc
    assert not (tmp_path / "llama-cmake-args").exists()


def test_the_installed_build_is_the_one_this_machine_gets():
    # `make` (which `make test` runs first) installs llama-cpp-python through the script and
    # writes this stamp; a missing stamp means it was installed some other way.
    assert (Path(sys.prefix) / ".llama.stamp").exists(), "install with `make llama`"
    environment = {k: v for k, v in os.environ.items() if k != "SAFE_LOCAL_CMAKE_ARGS"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
