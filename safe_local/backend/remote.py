"""A model whose layers run on an RPC server, held by a child process that may die alone.

ggml aborts the whole process when an RPC server goes away mid-call, and blocks forever when one
stops answering (no socket timeouts in ggml-rpc). A model placed on another host is therefore
loaded by a child process (a LlamaModel with `LoadOptions.rpc`), and `RemoteModel` forwards the
`Model` protocol's calls to it over a pipe. A call that the child does not answer within
`timeout` seconds, or a child that exits, ends that call with RemoteModelLost naming the model
and the server; the other models of the ensemble, and the parent's state, are untouched.

The child is started with `spawn`: forking a process that already runs llama.cpp threads is not
safe (so a script that loads a placed model needs the usual `if __name__ == "__main__":` guard).
It ignores Ctrl+C (the parent decides what an interrupt means) and writes llama.cpp's messages
to a log file, not the terminal; the last line of that log (ggml's abort message) goes into the
error. The vocabulary's pieces cross the pipe once, at load; every later call carries token ids,
positions and logits rows only, and every reply carries the length of the child's cache (what
it holds is a prefix of the last target, or of what it held before: derivable here).

Left out on purpose: reconnecting (a lost model stays lost until the ensemble is loaded again)
and anything SAFE-specific.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from jinja2 import TemplateError

from safe_local.backend.base import ContextFullError, Message, common_prefix
from safe_local.core import Vocab
from safe_local.errors import SafeLocalError

LOAD_TIMEOUT = 600.0  # seconds: a model's weights cross the network to the server once
CALL_TIMEOUT = 120.0  # seconds a call may take, plus PER_TOKEN for each token it has to decode
PER_TOKEN = 0.25  # seconds: a 4096-token prefill may take 17 minutes before the host counts as lost


class RemoteModelLost(SafeLocalError):
    """The child holding a model on an RPC server exited or stopped answering.

    `model` names the model; the message also names the server (for logs and the command line,
    not for clients of the HTTP server, which never learn where a model runs).
    """

    def __init__(self, message: str, model: str = ""):
        super().__init__(message)
        self.model = model


def _serve(conn: Connection, path: str, name: str | None, options: Any, log: str) -> None:
    """The child: load the model, then answer (method, args) requests until closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["GGML_NO_BACKTRACE"] = "1"  # ggml_abort would print a backtrace (or run gdb) first
    with open(log, "ab") as out:
        os.dup2(out.fileno(), 2)
    from safe_local.backend.llama import LlamaModel

    try:
        model = LlamaModel(path, name=name, options=options)
    except BaseException as e:  # noqa: BLE001 - every load failure goes back to the parent
        conn.send((_kind(e), str(e)))
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
            conn.send(("ok", value, len(model.cached_tokens), model.n_decoded))
        except Exception as e:  # noqa: BLE001 - the parent re-raises it as the same kind of error
            conn.send((_kind(e), str(e), len(model.cached_tokens), model.n_decoded))
    model.close()
    conn.close()


def _kind(error: BaseException) -> type[Exception]:
    """The class the parent raises for a child's error: the kinds callers tell apart (a full
    context; a template refusal, which the server answers with 400), else SafeLocalError."""
    return next((k for k in (ContextFullError, TemplateError) if isinstance(error, k)), SafeLocalError)


class RemoteModel:
    """The `Model` protocol for a model on an RPC server, through a child process."""

    def __init__(self, path: str | Path, name: str | None, options: Any,
                 *, load_timeout: float = LOAD_TIMEOUT, call_timeout: float = CALL_TIMEOUT):
        self.path = Path(path)
        self.endpoint = options.rpc
        self.call_timeout = call_timeout
        self.closed = False
        log = tempfile.NamedTemporaryFile(prefix="safe-local-rpc-", suffix=".log", delete=False)
        log.close()
        self._log = Path(log.name)
        self._lost: str | None = None
        self._cached: list[int] = []
        self.n_decoded = 0
        self.name = name or self.path.stem
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, str(self.path), name, options, str(self._log)),
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

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def prompt_tokens(self, messages: Sequence[Message], tools: Sequence[dict] | None = None) -> list[int]:
        return self._call("prompt_tokens", list(messages), list(tools) if tools else None)

    def tokenize(self, text: bytes, special: bool = False) -> list[int]:
        return self._call("tokenize", text, special)

    def evaluate(self, target: Sequence[int], positions: Sequence[int]) -> np.ndarray:
        new = len(target) - common_prefix(self._cached, target)
        return self._call("evaluate", list(target), list(positions), timeout=self.call_timeout + PER_TOKEN * new)

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
        self._log.unlink(missing_ok=True)

    # --- the pipe ---------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        if self.closed:
            raise SafeLocalError(f"{self.name} is closed: load the models again to generate")
        if self._lost:
            raise RemoteModelLost(self._lost, self.name)
        # Whatever the call did, the child's cache is a prefix of the target it was given (evaluate)
        # or of what it held (every other call).
        held = args[0] if method == "evaluate" else self._cached
        try:
            self._conn.send((method, args))
            return self._receive(timeout or self.call_timeout, method, held)
        except (SafeLocalError, TemplateError):  # the child's own errors, or already lost
            raise
        except OSError:
            self._fail(f"its process is gone while {method}")
        except BaseException:
            # Interrupted between a request and its reply (Ctrl+C in a notebook, say): the next
            # reply on the pipe would be this call's, so the pipe can never be trusted again.
            self._fail(f"interrupted while {method}")

    def _receive(self, timeout: float, doing: str, held: list[int] | None = None) -> Any:
        ready = wait([self._conn, self._process.sentinel], timeout)
        if self._conn in ready:
            try:
                kind, value, *state = self._conn.recv()
            except (EOFError, OSError):
                kind = None
            if kind is not None:
                if state:
                    n_cached, self.n_decoded = state
                    self._cached = held[:n_cached]
                if kind != "ok":
                    raise kind(value)
                return value
        self._process.join(timeout=1)
        if not ready:
            self._fail(f"no answer after {timeout:.0f} s while {doing}")
        self._fail(f"its process ended while {doing} ({_exit_reason(self._process.exitcode, self._log)})")

    def _fail(self, why: str) -> None:
        self._lost = (f"{self.name} on RPC server {self.endpoint} is lost: {why}; the other models are "
                      "unaffected; check that server, then load the ensemble again")
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=10)
        raise RemoteModelLost(self._lost, self.name)

    def __repr__(self) -> str:
        return f"RemoteModel({self.name!r}, rpc={self.endpoint})"


def _exit_reason(code: int | None, log: Path) -> str:
    if code != -signal.SIGABRT:
        return f"exit code {code}"
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"llama.cpp aborted: {lines[-1] if lines else 'the RPC server went away or answered wrongly'}"

