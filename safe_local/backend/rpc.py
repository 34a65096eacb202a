"""llama.cpp's RPC backend: a model's layers and KV cache on another host's `ggml-rpc-server`.

`rpc_devices(endpoint)` connects to a server and returns its devices, for
`llama_model_params.devices` (a NULL-terminated array). llama-cpp-python binds none of ggml's
backend-registry functions and its old `rpc_servers` argument is silently ignored, so this
follows llama.cpp's own `--rpc` (common/arg.cpp, add_rpc_devices) through ctypes on the libggml
that llama_cpp already loaded: the "RPC" registry's `ggml_backend_rpc_add_server` proc address.
The devices are passed to the one model explicitly and never registered globally: a registered
RPC device would be used by every later model loaded in the process.

ggml aborts the process when a server is unreachable, refuses the handshake or fails mid-call
(GGML_ABORT / RPC_STATUS_ASSERT in ggml-rpc.cpp, no socket timeouts). So this module checks that
the endpoint answers before handing it to ggml, and is only used inside the child process of a
RemoteModel (safe_local.backend.remote), whose parent survives an abort.

`LoopbackServer` starts a `ggml-rpc-server` for tests and benchmarks, on 127.0.0.1 only: the
server has no authentication, so nothing here ever binds it to another address.

Left out on purpose: starting servers for users (they run `ggml-rpc-server` on their hosts,
docs/models.md, "Models on other machines") and anything not IPv4 (ggml's transport is IPv4 only).
"""

from __future__ import annotations

import ctypes
import socket
import subprocess
import sys
import time
from pathlib import Path

from safe_local.errors import SafeLocalError
from safe_local.placement import check_reachable, parse_endpoint


def _libggml() -> ctypes.CDLL:
    from llama_cpp import _ggml  # the CDLL llama_cpp loaded; its symbols include libggml-base's

    lib = _ggml.libggml
    vp = ctypes.c_void_p
    lib.ggml_backend_reg_by_name.argtypes, lib.ggml_backend_reg_by_name.restype = [ctypes.c_char_p], vp
    lib.ggml_backend_reg_get_proc_address.argtypes = [vp, ctypes.c_char_p]
    lib.ggml_backend_reg_get_proc_address.restype = vp
    lib.ggml_backend_reg_dev_count.argtypes, lib.ggml_backend_reg_dev_count.restype = [vp], ctypes.c_size_t
    lib.ggml_backend_reg_dev_get.argtypes, lib.ggml_backend_reg_dev_get.restype = [vp, ctypes.c_size_t], vp
    return lib


def supported() -> bool:
    """Whether this llama.cpp build has the RPC backend (`make` builds it with -DGGML_RPC=ON)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_rpc())


def rpc_devices(endpoint: str) -> ctypes.Array:
    """The server's devices as a NULL-terminated `ggml_backend_dev_t` array (keep it alive while loading)."""
    if not supported():
        raise SafeLocalError("this llama.cpp build has no RPC backend: run `make rebuild-llama` "
                             "(safe-local builds it with -DGGML_RPC=ON)")
    parse_endpoint(endpoint)
    check_reachable(endpoint)
    lib = _libggml()
    registry = lib.ggml_backend_reg_by_name(b"RPC")
    address = lib.ggml_backend_reg_get_proc_address(registry, b"ggml_backend_rpc_add_server")
    if not registry or not address:
        raise SafeLocalError("this llama.cpp build's RPC backend has no ggml_backend_rpc_add_server")
    add_server = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(address)
    server = add_server(endpoint.strip().encode())
    count = lib.ggml_backend_reg_dev_count(server) if server else 0
    if not count:
        raise SafeLocalError(f"RPC server {endpoint} offers no device to run a model on")
    devices = [lib.ggml_backend_reg_dev_get(server, i) for i in range(count)]
    return (ctypes.c_void_p * (count + 1))(*devices, None)


def server_binary() -> Path:
    """Where `make rpc-server` puts ggml-rpc-server: beside this virtualenv's Python."""
    return Path(sys.prefix) / "bin" / "ggml-rpc-server"


class LoopbackServer:
    """A ggml-rpc-server on a free port of 127.0.0.1, stopped on exit (tests, benchmarks)."""

    def __init__(self, threads: int = 1, log: Path | None = None, start_timeout: float = 60.0):
        binary = server_binary()
        if not binary.is_file():
            raise SafeLocalError(f"{binary} is missing: run `make rpc-server`")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        with open(log or "/dev/null", "wb") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port), "-t", str(threads)],
                                            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout
        while True:  # it prints nothing once listening, and exits 0 when it cannot bind: ask the port
            try:
                check_reachable(self.endpoint, timeout=0.5)
                return
            except SafeLocalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SafeLocalError(f"ggml-rpc-server did not start listening on {self.endpoint}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
