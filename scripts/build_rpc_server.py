"""Build llama.cpp's RPC server (`ggml-rpc-server`) from the llama.cpp that llama-cpp-python vendors.

Run with the virtualenv's Python (`make rpc-server` does): it installs `.venv/bin/ggml-rpc-server`.

Why from llama-cpp-python's sdist: client and server must speak the same RPC protocol version
(the handshake aborts the client on a mismatch), and the sdist pinned in
requirements/llama-cpp-python.txt carries exactly the llama.cpp the client was built from. The
CPU options are the ones scripts/build_llama.py chooses for the wheel, so the server runs on
this CPU as the client does (no -march=native: see there). The binary is kept in the same
wheelhouse under pip's cache, keyed the same way, so a fresh clone on this machine does not
rebuild it.

Left out on purpose: starting servers. On each host, `.venv/bin/ggml-rpc-server -p PORT` listens
on 127.0.0.1; an RPC server has no authentication and must never face an untrusted network
(docs/models.md, "Models on other machines").
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "ggml-rpc-server"
# Only the tool and what it links (ggml): the rest of llama.cpp's tools, examples and tests are
# configured but never built; no OpenSSL (the server speaks plain TCP); static, so the binary
# does not look for the wheel's shared libraries.
TOOL_ARGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_COMMON=ON",
             "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
             "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF"]


def _build_llama():
    spec = importlib.util.spec_from_file_location("_build_llama", ROOT / "scripts" / "build_llama.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed_path() -> Path:
    return Path(sys.prefix) / "bin" / TARGET


def build(folder: Path, args: list[str]) -> None:
    """Download the pinned sdist, build the tool, and make `folder` appear holding it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    requirement = ROOT / "requirements" / "llama-cpp-python.txt"
    print(f"build_rpc_server: building {TARGET} with {' '.join(args)} (a few minutes on two cores)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=folder.name + ".", dir=folder.parent) as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "--require-hashes", "-r", str(requirement), "-d", str(work / "sdist")],
                       check=True, stdout=sys.stderr)
        (sdist,) = (work / "sdist").glob("*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(work / "src", filter="data")
        (source,) = (work / "src").glob("*/vendor/llama.cpp")
        build_dir = work / "build"
        subprocess.run(["cmake", "-S", str(source), "-B", str(build_dir), *args], check=True, stdout=sys.stderr)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.run(["cmake", "--build", str(build_dir), "--target", TARGET, "-j", jobs], check=True,
                       stdout=sys.stderr)
        keep = work / "done"
        keep.mkdir()
        shutil.copy2(build_dir / "bin" / TARGET, keep / TARGET)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(keep, folder)


def main() -> int:
    llama = _build_llama()
    name, version, sdist_hash = llama.pinned()
    cpu_args, _ = llama.chosen_args()
    if not llama.cmake_true(llama.cmake_option(cpu_args, "GGML_RPC")):
        sys.exit(f"build_rpc_server: {llama.OVERRIDE_ENV} turns the RPC backend off; the server needs it on")
    args = cpu_args + TOOL_ARGS
    key = llama.build_key(version, sdist_hash, args, "rpc-server", sysconfig.get_platform(), llama.compiler_id())
    folder = llama.wheelhouse_root() / f"{TARGET}-{version}-{key}"
    if not (folder / TARGET).is_file():
        build(folder, args)
    target = installed_path()
    if not target.is_file() or target.read_bytes() != (folder / TARGET).read_bytes():
        shutil.copy2(folder / TARGET, target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
