"""A model whose layers run on an RPC server, held by a child process that may die alone.

ggml aborts the whole process when an RPC server goes away mid-call, and blocks forever when one
stops answering (no socket timeouts in ggml-rpc). A model placed on another host is therefore
loaded by a child process (a LlamaModel with `LoadOptions.rpc`), and `RemoteModel` forwards the
`Model` protocol's calls to it over a pipe. A call that the child does not answer within
`timeout` seconds, or a child that exits, ends that call with RemoteModelLost naming the model
and the server; the other models of the ensemble, and the parent's state, are untouched.

The child is started with `spawn`: forking a process that already runs llama.cpp threads is not
safe. The vocabulary's pieces cross the pipe once, at load; every later call carries token ids,
positions and logits rows only.

Left out on purpose: reconnecting (a lost model stays lost until the ensemble is loaded again)
and anything SAFE-specific.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from safe_local.backend.base import ContextFullError, Message
from safe_local.core import Vocab
from safe_local.errors import SafeLocalError

LOAD_TIMEOUT = 600.0  # seconds: a model's weights cross the network to the server once
CALL_TIMEOUT = 120.0  # seconds: the longest a prefill of a full context may take on a slow host


class RemoteModelLost(SafeLocalError):
    """The child holding a model on an RPC server exited or stopped answering."""


def _serve(conn: Connection, path: str, name: str | None, options: Any) -> None:
    """The child: load the model, then answer (method, args) requests until closed."""
    from safe_local.backend.llama import LlamaModel

    try:
        model = LlamaModel(path, name=name, options=options)
    except BaseException as e:  # noqa: BLE001 - every load failure goes back to the parent
        conn.send(("error", type(e).__name__, str(e)))
        return
    conn.send(("ok", {"name": model.name, "n_ctx": model.n_ctx, "architecture": model.architecture,
                      "pieces": model.vocab.pieces, "eog_ids": model.vocab.eog_ids}))
    while True:
        try:
            method, args = conn.recv()
        except EOFError:
            break
        if method == "close":
            break
        try:
            value = getattr(model, method)(*args)
            conn.send(("ok", (value, model.cached_tokens, model.n_decoded)))
        except Exception as e:  # noqa: BLE001 - the parent re-raises it as the same kind of error
            conn.send(("error", type(e).__name__, str(e)))
    model.close()
    conn.close()


class RemoteModel:
    """The `Model` protocol for a model on an RPC server, through a child process."""

    def __init__(self, path: str | Path, name: str | None, options: Any,
                 *, load_timeout: float = LOAD_TIMEOUT, call_timeout: float = CALL_TIMEOUT):
        self.path = Path(path)
        self.endpoint = options.rpc
        self.call_timeout = call_timeout
        self.closed = False
        self._lost: str | None = None
        self._cached: list[int] = []
        self.n_decoded = 0
        self.name = name or self.path.stem
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, str(self.path), name, options),
                                        name=f"safe-local {self.name} on {self.endpoint}", daemon=True)
        self._process.start()
        child_end.close()
        try:
            facts = self._receive(load_timeout, "loading")
        except BaseException:
            self.close()
            raise
        self.name = facts["name"]
        self.n_ctx = facts["n_ctx"]
        self.architecture = facts["architecture"]
        self.vocab = Vocab(facts["pieces"], facts["eog_ids"], self.tokenize)

    # --- the Model protocol ---------------------------------------------------------------

    @property
    def cached_tokens(self) -> list[int]:
        return list(self._cached)

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        return self._call("prompt_tokens", list(messages))

    def tokenize(self, text: bytes, special: bool = False) -> list[int]:
        return self._call("tokenize", text, special)

    def evaluate(self, target: Sequence[int], positions: Sequence[int]) -> np.ndarray:
        return self._call("evaluate", list(target), list(positions))

    def reset(self) -> None:
        self._call("reset")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._cached.clear()
        if self._process.is_alive():
            try:
                self._conn.send(("close", ()))
            except OSError:
                pass
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)
        self._conn.close()

    # --- the pipe ---------------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        if self.closed:
            raise SafeLocalError(f"{self.name} is closed: load the models again to generate")
        if self._lost:
            raise RemoteModelLost(self._lost)
        try:
            self._conn.send((method, args))
        except OSError:
            self._fail("its process is gone")
        value, self._cached, self.n_decoded = self._receive(self.call_timeout, method)
        return value

    def _receive(self, timeout: float, doing: str) -> Any:
        ready = wait([self._conn, self._process.sentinel], timeout)
        if self._conn in ready:
            try:
                reply = self._conn.recv()
            except (EOFError, OSError):
                reply = None
            if reply is not None and reply[0] == "ok":
                return reply[1]
            if reply is not None:
                _, kind, message = reply
                raise (ContextFullError if kind == "ContextFullError" else SafeLocalError)(message)
        self._process.join(timeout=1)
        if not ready:
            self._fail(f"no answer after {timeout:.0f} s while {doing}")
        self._fail(f"its process ended while {doing} ({_exit_reason(self._process.exitcode)})")

    def _fail(self, why: str) -> None:
        self._lost = (f"{self.name} on RPC server {self.endpoint} is lost: {why}; the other models are "
                      "unaffected; check that server, then load the ensemble again")
        if self._process.is_alive():
            self._process.kill()
        raise RemoteModelLost(self._lost)

    def __repr__(self) -> str:
        return f"RemoteModel({self.name!r}, rpc={self.endpoint})"


def _exit_reason(code: int | None) -> str:
    if code == -6:
        return "llama.cpp aborted: the RPC server went away or answered wrongly"
    return f"exit code {code}"
