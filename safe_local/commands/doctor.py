"""`safe-local doctor`: is this machine ready, and if not, what is the one thing to do.

Prints the llama.cpp build (version, compiled features) against the instruction sets this CPU
offers, the threads a model uses, where files live, the models found with their sizes, and the
result of a tiny real decode of each offline model (batches of 64, 6 and 1 tokens) run in a
child process, so a build that crashes is reported in one line with its fix instead of taking
the command down. Exit status 0 when everything passed, 1 otherwise. `--json` prints one object.

Left out on purpose: fixing anything (the messages name `make rebuild-llama` or the model
commands), and decoding Hub models unless asked with --models (they can be large).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from safe_local import cpu_features, diagnostics, store
from safe_local.commands.run import model_list
from safe_local.commands.store import path_rows
from safe_local.diagnostics import Check
from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_names
from safe_local.placement import check_reachable, split_spec
from safe_local.store import resolve_model
from safe_local.store.memory import format_bytes


def register(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="check the llama.cpp build, the CPU and the models with a real decode")
    doctor.add_argument("--models", "-m", type=model_list,
                        help="models to test-decode (default: the offline models on this machine)")
    doctor.add_argument("--no-decode", action="store_true", help="skip the test decodes")
    doctor.add_argument("--threads", type=int, default=None, help="threads for the test decodes (default: all cores)")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(handler=doctor_command)


def _cpu() -> dict:
    return {"model": cpu_features.model_name(), "machine": platform.machine(), "system": platform.system(),
            "instruction_sets": cpu_features.offered()}


def _offline(local: list[store.LocalModel]) -> list[tuple[str, Path]]:
    offline = set(offline_model_names())
    return [(m.name, m.file) for m in local if m.name in offline]


def _rpc_check(model: str, endpoint: str) -> Check:
    details = {"model": model, "endpoint": endpoint}
    try:
        check_reachable(endpoint)
    except SafeLocalError as e:
        return Check(f"rpc {model}", False, str(e), details)
    return Check(f"rpc {model}", True, f"{model} runs on {endpoint}, which answers", details)


def doctor_command(args: argparse.Namespace) -> int:
    emit = (lambda *_: None) if args.json else (lambda text="": print(text, flush=True))
    asked = [(spec, resolve_model(spec)) for spec in args.models or []]  # a bad name fails before any output
    placed = dict(split_spec(spec) for spec, _ in asked)  # model -> its RPC server, None: here
    cpu = _cpu()
    emit(f"CPU          {cpu['model']} ({cpu['machine']})")
    emit(f"offers       {' '.join(cpu['instruction_sets']) or '(no flags to read on this system)'}")

    llama = diagnostics.llama_info()
    checks = [llama]
    if llama.ok:
        emit(f"llama.cpp    {llama.message}, {llama.details['threads']} threads per model: "
             f"{llama.details['system_info']}")
        build = diagnostics.check_build(llama.details["system_info"])
        checks.append(build)
        emit(f"build        {'ok' if build.ok else 'PROBLEM'}: {build.message}")
        rpc = llama.details.get("rpc")
        emit(f"rpc          {'built in' if rpc else 'not built in'}: models on other hosts "
             f"(--models name@host:port) {'work' if rpc else 'need ' + diagnostics.REBUILD}")
    else:
        emit(f"llama.cpp    PROBLEM: {llama.message}")

    rows = path_rows()
    emit()
    for label, path in rows:
        emit(f"{label + ':':<30} {path}")

    local = store.list_local()
    emit()
    emit(f"models       {len(local)} on this machine" + (":" if local else " (run `make models`)"))
    for m in local:
        emit(f"  {m.name:<40} {format_bytes(m.size):>9}  {m.source}")

    # a model placed on a server is decoded there; here only the server's answer counts
    servers = [_rpc_check(model, endpoint) for model, endpoint in placed.items() if endpoint]
    if servers:
        emit()
    for check in servers:
        emit(f"rpc          {check.details['model']}: {'ok' if check.ok else 'PROBLEM'}: {check.message}")
    decodes = []
    if not args.no_decode and llama.ok:
        emit()
        for name, path in asked or _offline(local):
            if split_spec(name)[1]:
                continue
            result = diagnostics.check_decode(name, path, threads=args.threads)
            decodes.append(result)
            emit(f"decode       {name}: {'ok' if result.ok else 'PROBLEM'}: {result.message}")
    ok = all(c.ok for c in checks + servers + decodes)
    if args.json:
        print(json.dumps({
            "ok": ok, "cpu": cpu,
            "llama": llama.to_json(),
            "build": checks[1].to_json() if len(checks) > 1 else None,
            "paths": {label: str(path) for label, path in rows},
            "models": [{"name": m.name, "file": str(m.file), "size": m.size, "source": m.source} for m in local],
            "runs_on": {model: endpoint or "local" for model, endpoint in placed.items()},
            "rpc": [c.to_json() for c in servers],
            "decode": [d.to_json() for d in decodes],
        }, indent=2))
    else:
        emit()
        emit("all checks passed" if ok else f"some checks failed: see PROBLEM above ({diagnostics.REBUILD} "
             "rebuilds llama.cpp for this machine)")
    return 0 if ok else 1
