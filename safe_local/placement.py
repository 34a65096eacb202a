"""Where each model of an ensemble runs: here, or on a llama.cpp RPC server at host:port.

A model spec may end in `@host:port` (`--models qwen2.5-coder-0.5b,gemma3-270m@10.0.0.2:50052`);
a preset may carry an `rpc` table (`rpc = { "gemma3-270m" = "10.0.0.2:50052" }`); and
`Ensemble.load(..., placement={"gemma3-270m": "10.0.0.2:50052"})` places models by name. This
module only parses and merges those; connecting is safe_local.backend.rpc's job.

Left out on purpose: host names beyond what ggml's IPv4 transport resolves, and any check that a
host is trusted: an RPC server has no authentication, so it belongs on loopback or a private
network only (README, "Models on other machines").
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from safe_local.errors import SafeLocalError

_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")


def parse_endpoint(text: str) -> tuple[str, int]:
    """(host, port) of `host:port`, or a one-line error saying what is wrong."""
    match = _ENDPOINT.match(text.strip()) if isinstance(text, str) else None
    if not match or not 0 < int(match["port"]) < 65536:
        raise SafeLocalError(f"RPC server {text!r} is not host:port (e.g. 127.0.0.1:50052)")
    return match["host"], int(match["port"])


def split_spec(spec: str) -> tuple[str, str | None]:
    """(model spec, RPC endpoint or None) of `spec[@host:port]`.

    An `@` inside a path (`/home/me@work/m.gguf`) is part of the path: only a suffix with no `/`
    is a placement, and then it must be a valid host:port.
    """
    model, at, where = spec.rpartition("@")
    if not at or "/" in where or not model:
        return spec, None
    parse_endpoint(where)
    return model, where.strip()


def place(specs: Sequence[str], *tables: Mapping[str, str] | None) -> tuple[list[str], list[str | None]]:
    """Model specs without placements, and each one's endpoint (None: this machine).

    Later tables win over earlier ones and over a spec's own `@host:port`; a table naming a model
    the ensemble does not have is an error, so a typo does not silently run a model locally.
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
    return models, endpoints
