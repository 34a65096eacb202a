"""Model store commands, named like ollama's: `pull`, `ls`, `rm`, and `paths`.

`pull NAME | REPO[:QUANT] | REPO/FILE.gguf | PRESET` downloads into the shared Hugging Face
cache with a progress bar on stderr (bytes, speed, ETA); the first Ctrl+C stops it, keeping
the partial file for the next pull to resume. `--dry-run` only says what would be downloaded.
`ls` lists the models on this machine (`--json` adds architecture and tokenizer facts,
`--presets` lists the ensembles instead); `rm NAME` deletes a downloaded model; `paths` shows
where config, data, caches and models live. The commands call safe_local.store and print;
they hold no store logic.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from safe_local import paths, store
from safe_local.config import config_path
from safe_local.store.hub import hub_env
from safe_local.store.memory import format_bytes


def register(sub: argparse._SubParsersAction) -> None:
    pull = sub.add_parser("pull", help="download models from the Hugging Face Hub")
    pull.add_argument("names", nargs="+", metavar="NAME",
                      help="catalog name[:QUANT], owner/repo[:QUANT], owner/repo/FILE.gguf or a preset")
    pull.add_argument("--dry-run", action="store_true", help="say what would be downloaded and how big it is")
    pull.set_defaults(handler=pull_command)

    ls = sub.add_parser("ls", help="list the models on this machine")
    ls.add_argument("--json", action="store_true", help="one JSON array, with header facts and shared tokenizers")
    ls.add_argument("--presets", action="store_true", help="list the ensemble presets instead")
    ls.set_defaults(handler=ls_command)

    rm = sub.add_parser("rm", help="delete a downloaded model from the Hugging Face cache")
    rm.add_argument("names", nargs="+", metavar="NAME", help="a name as `safe-local ls` shows it")
    rm.set_defaults(handler=rm_command)

    where = sub.add_parser("paths", help="show where config, data, caches and models live")
    where.set_defaults(handler=paths_command)


# --- pull -------------------------------------------------------------------------------------


class ProgressBar:
    """One self-rewriting stderr line: percent, bytes, speed and ETA (a final line when not a TTY)."""

    def __init__(self, label: str, out: TextIO = sys.stderr) -> None:
        self.label, self.out = label, out
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.first: int | None = None
        self.last_draw = 0.0
        self.done = self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.first is None:
            self.first = done  # resumed bytes do not count towards the speed
        now = time.monotonic()
        if self.tty and (now - self.last_draw >= 0.1 or done >= total):
            self.last_draw = now
            self.out.write("\r" + self.line() + "\x1b[K")
            self.out.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        speed = (self.done - (self.first or 0)) / elapsed
        percent = 100 * self.done / self.total if self.total else 0.0
        eta = (self.total - self.done) / speed if speed > 0 else None
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta is not None else "--:--:--"
        return (f"{self.label}  {percent:5.1f}%  {format_bytes(self.done)} / {format_bytes(self.total)}  "
                f"{format_bytes(speed)}/s  ETA {eta_text}")

    def finish(self) -> None:
        if self.total:
            self.out.write(("\r" if self.tty else "") + self.line() + ("\x1b[K\n" if self.tty else "\n"))
            self.out.flush()


def _expand_presets(names: list[str]) -> list[str]:
    catalog = store.load_catalog()
    specs: list[str] = []
    for name in names:
        is_preset = name in catalog.presets and name not in catalog.models
        specs.extend(catalog.presets[name].models if is_preset else [name])
    return list(dict.fromkeys(specs))


def _dry_run(spec: str) -> None:
    if store.is_local(spec):
        print(f"{spec}: already on this machine")
        return
    ref = store.hub_ref(spec)
    plan = store.plan_pull(ref)
    resumed = f", {format_bytes(plan.partial_bytes)} already downloaded" if plan.partial_bytes else ""
    sha = f", sha256 {plan.sha256}" if plan.sha256 else ""
    print(f"{spec}: would download {plan.repo}/{plan.file} ({format_bytes(plan.size)}{sha}{resumed}) "
          f"into {hub_env().cache_dir}; {format_bytes(plan.free_bytes)} free there")


def pull_command(args: argparse.Namespace) -> int:
    specs = _expand_presets(args.names)
    if args.dry_run:
        for spec in specs:
            _dry_run(spec)
        return 0
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: (cancel.set(), signal.signal(signal.SIGINT, previous)))
    try:
        for spec in specs:
            bar = ProgressBar(spec)
            try:
                path = store.pull(spec, progress=bar, cancel=cancel)
            except store.PullCancelled as exc:
                bar.finish()
                print(f"safe-local: {exc}", file=sys.stderr)
                return 130
            bar.finish()
            print(f"{spec}: {path}")
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


# --- ls, rm, paths ----------------------------------------------------------------------------


def _ls_json() -> list[dict]:
    models = store.list_local()
    infos = {m.name: store.read_gguf_info(m.file) for m in models}
    twins = store.tokenizer_twins(list(infos.items()))
    rows = []
    for m in models:
        info = infos[m.name]
        rows.append({
            "name": m.name, "file": str(m.file), "size": m.size, "source": m.source, "repo": m.repo,
            "architecture": info.architecture, "context_length": info.context_length,
            "vocab_type": info.vocab_type, "vocab_size": info.vocab_size,
            "tokenizer": info.tokenizer_id[:16], "same_tokenizer_as": twins.get(m.name, []),
        })
    return rows


def ls_command(args: argparse.Namespace) -> int:
    if args.presets:
        presets = store.list_presets()
        if args.json:
            print(json.dumps([{"name": p.name, "models": list(p.models), "description": p.description,
                               **p.generation_options()} for p in presets], indent=2))
        else:
            for p in presets:
                print(f"{p.name:<10} {','.join(p.models):<45} {p.description}".rstrip())
        return 0
    if args.json:
        print(json.dumps(_ls_json(), indent=2))
        return 0
    models = store.list_local()
    width = max([len(m.name) for m in models] + [4])
    print(f"{'NAME':<{width}}  {'SIZE':>9}  {'SOURCE':<6}  FILE")
    for m in models:
        print(f"{m.name:<{width}}  {format_bytes(m.size):>9}  {m.source:<6}  {m.file}")
    return 0


def rm_command(args: argparse.Namespace) -> int:
    for name in args.names:
        freed = store.remove(name)
        print(f"removed {name} ({format_bytes(freed)} freed)")
    return 0


def path_rows() -> list[tuple[str, Path]]:
    """(what, where) for every place safe-local reads or writes."""
    return [
        ("config file", config_path()),
        ("data", paths.data_dir()),
        ("cache", paths.cache_dir()),
        ("assembled offline models", paths.cache_dir() / "models"),
        ("downloaded models (HF cache)", hub_env().cache_dir),
    ]


def paths_command(args: argparse.Namespace) -> int:
    for label, path in path_rows():
        print(f"{label + ':':<30} {path}")
    return 0
