"""Where each model of an ensemble runs: here, or on a llama.cpp RPC server at host:port.

A model spec may end in `@host:port` (`--models qwen2.5-coder-0.5b,gemma3-270m@10.0.0.2:50052`);
a preset may carry an `rpc` table (`rpc = { "gemma3-270m" = "10.0.0.2:50052" }`); and
`Ensemble.load(..., placement={"gemma3-270m": "10.0.0.2:50052"})` places models by name. This
module parses and merges those, and checks that a server answers at all (plain sockets, so
nothing here loads llama.cpp); connecting a model is safe_local.backend.rpc's job.

Left out on purpose: host names beyond what ggml's IPv4 transport resolves, and any check that a
host is trusted: an RPC server has no authentication, so it belongs on loopback or a private
network only (docs/models.md, "Models on other machines").
"""

from __future__ import annotations

import re
import socket
from typing import Mapping, Sequence

from safe_local.errors import SafeLocalError

CONNECT_TIMEOUT = 5.0  # seconds; a host that does not answer in this time is reported as down

_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")


def parse_endpoint(text: str) -> tuple[str, int]:
    """(host, port) of `host:port`, or a one-line error saying what is wrong."""
    match = _ENDPOINT.match(text.strip()) if isinstance(text, str) else None
    if not match or not 0 < int(match["port"]) < 65536:
        raise SafeLocalError(f"RPC server {text!r} is not host:port (e.g. 127.0.0.1:50052)")
    return match["host"], int(match["port"])


def check_reachable(endpoint: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise a one-line error unless `endpoint` accepts a TCP connection within `timeout`."""
    host, port = parse_endpoint(endpoint)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise SafeLocalError(f"RPC server {endpoint} is not reachable ({reason}): start `ggml-rpc-server -p {port}` "
                             "there (reached through an SSH tunnel or a trusted network), or run the model here"
                             ) from None


def split_spec(spec: str) -> tuple[str, str | None]:
    """(model spec, RPC endpoint or None) of `spec[@host:port]`.

    An `@` inside a path or file name (`/home/me@work/m.gguf`, `llama@v2.gguf`) is part of it:
    only a suffix with a `:` and no `/` is a placement, and then it must be a valid host:port.
    """
    model, at, where = spec.rpartition("@")
    if not at or "/" in where or ":" not in where or not model:
        return spec, None
    parse_endpoint(where)
    return model, where.strip()


def place(specs: Sequence[str], *tables: Mapping[str, str] | None) -> tuple[list[str], list[str | None]]:
    """Model specs without placements, and each one's endpoint (None: this machine).

    Later tables win over earlier ones and over a spec's own `@host:port`; a table naming a model
    the ensemble does not have is an error, so a typo does not silently run a model locally. Two
    models on one server are refused: a ggml-rpc-server serves one client at a time, and the
    second would wait for the first forever.
    """
    models, endpoints = [], []
    for spec in specs:
        model, endpoint = split_spec(spec)
        models.append(model)
        endpoints.append(endpoint)
    for table in tables:
        for name, endpoint in (table or {}).items():
            if name not in models:
                raise SafeLocalError(f"placement names {name!r}, which is not one of the models ({', '.join(models)})")
            parse_endpoint(endpoint)
            endpoints[models.index(name)] = endpoint.strip()
    for endpoint in {e for e in endpoints if e}:
        sharing = [m for m, e in zip(models, endpoints) if e == endpoint]
        if len(sharing) > 1:
            raise SafeLocalError(f"{' and '.join(sharing)} are both placed on RPC server {endpoint}, which serves one "
                                 "client at a time: start one server (port) per model")
    return models, endpoints


def model_name(spec: str) -> str:
    """The spec without its placement: what names the model in labels, ids and results."""
    return split_spec(spec)[0]
