"""Speed of llama.cpp builds against each other on the offline models, as ratios in one run.

    .venv/bin/python scripts/bench_builds.py NAME=WHEEL [NAME=WHEEL ...] [--rounds 3] [--json out.json]

`make bench-builds` passes the wheel this machine gets (scripts/build_llama.py's flags) and a
`-march=native` one. Each wheel's shared libraries are unpacked into a temporary folder and
loaded by a child process through llama-cpp-python's LLAMA_CPP_LIB_PATH, so the Python side is
the same and only the compiled llama.cpp differs. Builds run interleaved, round after round,
so load from other processes on a shared machine hits them alike; every figure is the median
over rounds and is reported relative to the first build.

Per model the child times the three shapes the engine uses: a prompt-sized batch (prefill,
128 tokens), SAFE's verification batch (6 tokens, one logits row each) and one-token decode.

Left out on purpose: the ensemble (bench_speed.py measures that on the installed build).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MODELS = ("qwen2.5-coder-0.5b", "gemma3-270m", "smollm2-135m")
TEXT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "


def child(threads: int | None) -> dict:
    from safe_local.backend import LlamaModel, LoadOptions
    from safe_local.offline_models import offline_model_path

    out = {}
    for name in MODELS:
        with LlamaModel(offline_model_path(name), name, LoadOptions(n_ctx=1024, n_threads=threads)) as m:
            tokens: list[int] = []
            while len(tokens) < 400:
                tokens += m.tokenize(TEXT.encode())
            t0 = time.perf_counter()
            m.evaluate(tokens[:128], [127])
            prefill = 128 / (time.perf_counter() - t0)
            t0, pos = time.perf_counter(), 128
            for _ in range(16):
                m.evaluate(tokens[: pos + 6], list(range(pos, pos + 6)))
                pos += 6
            verify = 16 * 6 / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(64):
                m.evaluate(tokens[: pos + 1], [pos])
                pos += 1
            decode = 64 / (time.perf_counter() - t0)
        out[name] = {"prefill": prefill, "verify6": verify, "decode": decode}
    return out


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        for member in z.namelist():
            if member.startswith("llama_cpp/lib/"):
                z.extract(member, into)
    lib = into / "llama_cpp" / "lib"
    for so in lib.iterdir():
        so.chmod(0o755)
    return lib


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("builds", nargs="*", metavar="NAME=WHEEL")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.threads)))
        return 0
    if len(args.builds) < 2 or any("=" not in b for b in args.builds):
        ap.error("give at least two builds as NAME=WHEEL")
    builds = dict(b.split("=", 1) for b in args.builds)
    runs: dict[str, list[dict]] = {name: [] for name in builds}
    with tempfile.TemporaryDirectory() as tmp:
        libs = {name: unpack(Path(wheel), Path(tmp, name)) for name, wheel in builds.items()}
        for r in range(args.rounds):
            for name, lib in libs.items():
                command = [sys.executable, __file__, "--child"]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                                      env=dict(os.environ, LLAMA_CPP_LIB_PATH=str(lib)))
                if done.returncode != 0:
                    print(f"round {r + 1} {name}: died with status {done.returncode}: {done.stderr.strip()[-300:]}",
                          file=sys.stderr)
                    return 1
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {name}: " + ", ".join(
                    f"{m} {v['decode']:.1f} tok/s" for m, v in runs[name][-1].items()), file=sys.stderr)

    medians = {name: {m: {shape: statistics.median(run[m][shape] for run in rs) for shape in rs[0][m]}
                      for m in MODELS} for name, rs in runs.items()}
    first = next(iter(builds))
    print(f"| build | model | prefill 128 tok/s | verify 6 tok/s | decode tok/s | × {first} (prefill / verify / decode) |")
    print("|---|---|---:|---:|---:|---|")
    for name in builds:
        for m in MODELS:
            v, ref = medians[name][m], medians[first][m]
            ratios = " / ".join(f"{v[s] / ref[s]:.2f}" for s in ("prefill", "verify6", "decode"))
            print(f"| {name} | {m} | {v['prefill']:.0f} | {v['verify6']:.1f} | {v['decode']:.1f} | {ratios} |")
    if args.json:
        args.json.write_text(json.dumps({"builds": builds, "rounds": runs, "medians": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
