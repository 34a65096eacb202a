"""RPC benchmark: each model on its own ggml-rpc-server on loopback, against all models here.

For each of the first GSM8K questions (the workload of bench_speed.py) and each configuration,
every KV cache is emptied and a greedy reply of up to --max-tokens tokens is generated; the
configurations run interleaved per question and speeds are ratios within the run. Rows: the
drafter alone, the `tiny` preset's SAFE and every-token UniTE, each with every model here and
with every model on its own loopback server (`-t` = the threads a local model uses).

Then the network estimate. A counting TCP proxy in front of a server measures how many request
/response round trips one decode call costs (a 1-token decode and a 6-token batch); with each
configuration's decode calls per generated token (measured above), a network with round-trip
time r adds about  sum over models of calls_per_token * round_trips_per_call * r  per token.

    .venv/bin/python scripts/bench_rpc.py [--limit 5] [--max-tokens 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from safe_local.api import Ensemble
from safe_local.backend import LoadOptions
from safe_local.backend.remote import RemoteModel
from safe_local.backend.rpc import LoopbackServer
from safe_local.engine import Engine, GenerationConfig

DATA = Path(__file__).parent / "data" / "gsm8k_test_first10.jsonl"
PROMPT = "{question} Please reason step by step, and put your final answer within \\boxed{{}}."
RTTS_MS = (0.2, 1.0)


@dataclass
class Row:
    label: str
    engine: Engine
    config: GenerationConfig
    tokens: int = 0
    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)  # decode calls per model over the run

    def calls_per_token(self) -> dict[str, float]:
        return {name: n / self.tokens for name, n in self.calls.items()} if self.tokens else {}


class CountingProxy:
    """Forwards 127.0.0.1:port to a server and counts request/response round trips."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.round_trips = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"last": None}
            threading.Thread(target=self._pump, args=(client, server, "request", state), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "response", state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str, state: dict) -> None:
        while data := _recv(src):
            with self._lock:
                if direction == "response" and state["last"] == "request":
                    self.round_trips += 1  # the first bytes of an answer end one round trip
                state["last"] = direction
            dst.sendall(data)
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(1 << 16)
    except OSError:
        return b""


def round_trips_per_call(path: Path, name: str, server: LoopbackServer, threads: int) -> dict[str, float]:
    """Round trips of one 1-token decode and one 6-token batch, through a counting proxy."""
    host, port = server.endpoint.split(":")
    proxy = CountingProxy((host, int(port)))
    model = RemoteModel(path, name, LoadOptions(n_ctx=1024, n_threads=threads, rpc=proxy.endpoint))
    try:
        tokens = model.prompt_tokens([{"role": "user", "content": PROMPT.format(question="What is 2 + 2?")}])
        model.evaluate(tokens, [len(tokens) - 1])
        out = {}
        for label, size, repeats in (("1 token", 1, 20), ("6-token batch", 6, 10)):
            before = proxy.round_trips
            for i in range(repeats):
                target = tokens + [tokens[-1]] * (size * (i + 1))
                model.evaluate(target, [len(target) - 1])
            out[label] = (proxy.round_trips - before) / repeats
        return out
    finally:
        model.close()
        proxy.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.limit]
    local = Ensemble.load()
    threads = LoadOptions().threads()
    servers = [LoopbackServer(threads=threads) for _ in local.models]
    remote = Ensemble.load(local.names, placement={n: s.endpoint for n, s in zip(local.names, servers)})
    try:
        weights = list(local.options.get("weights") or [1, 1, 1])
        base = dict(max_tokens=args.max_tokens)
        single = GenerationConfig(method="single", **base)
        tiny = GenerationConfig(method="safe", weights=weights, **base)
        unite = GenerationConfig(method="unite", weights=weights, **base)
        rows = []
        for where, ens in (("here", local), ("RPC on loopback", remote)):
            rows += [Row(f"single ({ens.names[0]}), {where}", Engine(ens.models[:1]), single),
                     Row(f"tiny SAFE, 3 models, {where}", ens.engine, tiny),
                     Row(f"every-token UniTE, 3 models, {where}", ens.engine, unite)]
        for q in questions:
            messages = [{"role": "user", "content": PROMPT.format(question=q)}]
            for row in rows:
                for model in row.engine.models:
                    model.reset()
                result = row.engine.generate(messages, row.config)
                row.tokens += result.stats.tokens
                row.seconds += result.stats.seconds
                for m in result.stats.models:
                    row.calls[m.name] = row.calls.get(m.name, 0) + m.decode_calls
            print(f"{q[:50]}... done", flush=True)
        trips = {n: round_trips_per_call(m.path, n, s, threads) for n, m, s in zip(local.names, local.models, servers)}
    finally:
        remote.close()
        local.close()
        for s in servers:
            s.stop()

    single_tps = rows[0].tokens / rows[0].seconds
    print(f"\n{date.today()} {platform.processor() or platform.machine()}, {threads} threads, "
          f"{len(questions)} questions x {args.max_tokens} tokens\n")
    print("| configuration | tokens | tok/s | × drafter here | decode calls per token (per model) |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        tps = row.tokens / row.seconds
        calls = ", ".join(f"{n} {c:.2f}" for n, c in row.calls_per_token().items())
        print(f"| {row.label} | {row.tokens} | {tps:.1f} | {tps / single_tps:.2f} | {calls} |")
    print("\nround trips per decode call:", json.dumps(trips))
    print("\n| configuration | added per token at 0.2 ms | at 1 ms |")
    print("|---|---:|---:|")
    estimate = {}
    for row in rows[3:]:
        per_ms = sum(c * trips[n]["1 token"] for n, c in row.calls_per_token().items())
        estimate[row.label] = {f"{r} ms": per_ms * r for r in RTTS_MS}
        print(f"| {row.label} | {per_ms * RTTS_MS[0]:.2f} ms | {per_ms * RTTS_MS[1]:.2f} ms |")
    if args.json:
        args.json.write_text(json.dumps({
            "date": str(date.today()), "machine": platform.processor() or platform.machine(), "threads": threads,
            "questions": len(questions), "max_tokens": args.max_tokens,
            "rows": [{"label": r.label, "tokens": r.tokens, "seconds": r.seconds,
                      "calls_per_token": r.calls_per_token()} for r in rows],
            "round_trips_per_call": trips, "added_ms_per_token": estimate}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
