"""RPC benchmark: each model on its own ggml-rpc-server on loopback, against all models here.

For each of the first GSM8K questions (the workload of bench_speed.py) and each configuration,
every KV cache is emptied and a greedy reply of up to --max-tokens tokens is generated; the
configurations run interleaved per question and speeds are ratios within the run. Rows: the
drafter alone, the `tiny` preset's SAFE and every-token UniTE, each with every model here and
with every model on its own loopback server (`-t` = the threads a local model uses).

Then the network estimate. SAFE and UniTE run again on the first two questions with every
model's server behind a counting TCP proxy, which measures per generated token the request/
response round trips and the bytes each way (logits rows come back as n_vocab float32s). A
network with round-trip time r and bandwidth B then adds about
round_trips * r + bytes / B per generated token, for every model or for the verifiers only (the
drafter kept here).

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
        self.bytes = {"request": 0, "response": 0}
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
                self.bytes[direction] += len(data)
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


def traffic(names: list[str], servers: list[LoopbackServer], configs: dict[str, GenerationConfig],
            questions: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per configuration and model: round trips and bytes each way per generated token, via proxies."""
    proxies = [CountingProxy(("127.0.0.1", s.port)) for s in servers]
    counted = Ensemble.load(names, placement={n: p.endpoint for n, p in zip(names, proxies)})
    out = {}
    try:
        for label, config in configs.items():
            before = [(p.round_trips, dict(p.bytes)) for p in proxies]
            tokens = 0
            for q in questions:
                for model in counted.models:
                    model.reset()
                messages = [{"role": "user", "content": PROMPT.format(question=q)}]
                tokens += counted.engine.generate(messages, config).stats.tokens
            out[label] = {n: {"round_trips": (p.round_trips - t) / tokens,
                              "bytes_to_server": (p.bytes["request"] - b["request"]) / tokens,
                              "bytes_from_server": (p.bytes["response"] - b["response"]) / tokens}
                          for n, p, (t, b) in zip(names, proxies, before)}
    finally:
        counted.close()
        for p in proxies:
            p.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()][: args.limit]
    local = Ensemble.load()
    threads = LoadOptions().threads()
    servers, remote = [], None
    try:
        servers = [LoopbackServer(threads=threads) for _ in local.models]
        remote = Ensemble.load(local.names, placement={n: s.endpoint for n, s in zip(local.names, servers)})
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
        remote.close()  # a server serves one client at a time: free them for the counting run
        flows = traffic(local.names, servers, {"tiny SAFE": tiny, "every-token UniTE": unite}, questions[:2])
    finally:
        if remote is not None:
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
    print("\ntraffic per generated token (first 2 questions, every model on a server):")
    for label, per_model in flows.items():
        for n, f in per_model.items():
            print(f"  {label:<18} {n:<20} {f['round_trips']:.2f} round trips, {f['bytes_to_server'] / 1e3:.1f} kB out, "
                  f"{f['bytes_from_server'] / 1e3:.1f} kB back")
    estimate = {}
    print("\n| configuration, models on servers | added per token: 0.2 ms RTT | 1 ms RTT | 1 Gbit/s transfer |")
    print("|---|---:|---:|---:|")
    for label, per_model in flows.items():
        for placed in (list(per_model), list(per_model)[1:]):  # all three, or the verifiers only
            trips = sum(per_model[n]["round_trips"] for n in placed)
            volume = sum(per_model[n]["bytes_to_server"] + per_model[n]["bytes_from_server"] for n in placed)
            key = f"{label}, {'all models' if len(placed) == len(per_model) else 'verifiers only'}"
            estimate[key] = {**{f"{r} ms RTT": trips * r for r in RTTS_MS}, "1 Gbit/s ms": volume * 8 / 1e6}
            print(f"| {key} | {trips * RTTS_MS[0]:.2f} ms | {trips * RTTS_MS[1]:.2f} ms | {volume * 8 / 1e6:.2f} ms |")
    if args.json:
        args.json.write_text(json.dumps({
            "date": str(date.today()), "machine": platform.processor() or platform.machine(), "threads": threads,
            "questions": len(questions), "max_tokens": args.max_tokens,
            "rows": [{"label": r.label, "tokens": r.tokens, "seconds": r.seconds,
                      "calls_per_token": r.calls_per_token()} for r in rows],
            "traffic_per_token": flows, "added_ms_per_token": estimate}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
