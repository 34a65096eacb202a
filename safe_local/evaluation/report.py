"""The report of a results file: `report.md` with a Markdown table per task, and PNG plots.

Per task: a table (method, items, accuracy with its 95 % interval, E/T, mean tokens per answer,
tokens/s, speed relative to the drafter alone) and three plots, `<task>-accuracy.png` (accuracy
per method with the interval), `<task>-accuracy-vs-et.png` (accuracy against E/T) and
`<task>-speed.png` (tokens/s relative to the drafter alone; only when the drafter ran alone).
matplotlib draws them with the Agg backend (files only, no display needed). How tokens were
chosen is read from each result's stored settings: the header names the sampler and its seed
when any result was sampled, and each task's setting line says greedy or which sampler. Left
out: the interpretation of the numbers (docs/results.md says what they show) and HTML output.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from safe_local.evaluation.stats import MethodSummary, summarize
from safe_local.generation_config import SAMPLER_OPTIONS

REPORT_FILE = "report.md"
_WORDS = {"top_p": "top-p", "min_p": "min-p"}  # as the flags and llama.cpp spell them


def markdown_table(rows: list[MethodSummary]) -> str:
    """The methods of one task as a Markdown table."""
    lines = [
        "| method | items | accuracy (95 % CI) | E/T | tokens/answer | tok/s | speed vs drafter |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = f"{r.speed_vs_drafter:.2f}×" if r.speed_vs_drafter is not None else "–"
        lines.append(
            f"| {r.method} | {r.n} | {r.accuracy:.1%} ({r.ci_low:.1%}–{r.ci_high:.1%}) | "
            f"{r.ensemble_rate:.1%} | {r.mean_tokens:.0f} | {r.tokens_per_s:.1f} | {speed} |"
        )
    return "\n".join(lines)


def sampler_text(config: dict[str, Any]) -> str:
    """How a result chose its tokens, from its stored config: "greedy" or the sampler with its seed,
    each followed by the penalties that were on (e.g. "temperature 0.8, top-p 0.95, min-p 0.05,
    repeat penalty 1.1, seed 1")."""
    # The stored config holds the newer sampler options only where they are on (evaluation.methods).
    on = {name: config[name] for name in SAMPLER_OPTIONS if name in config}
    if not config.get("temperature"):
        on.pop("min_p", None)  # greedy ignores it
        return ", ".join(["greedy", *(_option(name, value) for name, value in on.items())])
    cut = {"top_p": config.get("top_p", 1.0)} if config.get("top_p", 1.0) < 1 else {}
    shown = {"temperature": config["temperature"]} | cut | on | {"seed": config.get("seed")}
    return ", ".join(_option(name, value) for name, value in shown.items())


def _option(name: str, value: Any) -> str:
    words = _WORDS.get(name, name.replace("_", " "))
    return f"{words} {json.dumps(value) if isinstance(value, (list, tuple)) else value}"


def write_report(records: list[dict], out_dir: Path) -> Path:
    """Write report.md and the plots into out_dir; returns the report's path."""
    rows = summarize(records)
    tasks = list(dict.fromkeys(r.task for r in rows))
    parts = [
        "# safe-local eval report",
        "",
        f"Results: {len(records)}, report written {time.strftime('%Y-%m-%d %H:%M %Z')}. "
        "Accuracy with a 95 % Wilson interval; E/T = ensembled positions per generated token; "
        "speed vs drafter = the median over items of tokens/s relative to the drafter alone on the same item.",
    ]
    samplers = _samplers(records, sampled_only=True)
    if samplers:
        parts += ["", f"Sampled: {'; '.join(samplers)} (every method starts each item from that seed)."]
    for task in tasks:
        task_rows = [r for r in rows if r.task == task]
        plots = _plot_task(task, task_rows, out_dir)
        parts += ["", f"## {task}", "", _setting_line(task, records), "", markdown_table(task_rows), ""]
        parts.append(" ".join(f"![{name}]({name})" for name in plots))
    path = out_dir / REPORT_FILE
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _setting_line(task: str, records: list[dict]) -> str:
    task_records = [r for r in records if r["task"] == task]
    ensembles = [r["models"] for r in task_records if r["kind"] != "single"]
    models = ensembles[0] if ensembles else list(dict.fromkeys(m for r in task_records for m in r["models"]))
    max_tokens = sorted({r["settings"]["config"]["max_tokens"] for r in task_records})
    return (f"Models: {', '.join(models)}{' (drafter first)' if ensembles else ''} · "
            f"max tokens {', '.join(map(str, max_tokens))} · {'; '.join(_samplers(task_records))}")


def _samplers(records: list[dict], sampled_only: bool = False) -> list[str]:
    """Each distinct way the records chose tokens, in order of first appearance."""
    configs = [r["settings"]["config"] for r in records]
    return list(dict.fromkeys(sampler_text(c) for c in configs if not sampled_only or c.get("temperature")))


def _plot_task(task: str, rows: list[MethodSummary], out_dir: Path) -> list[str]:
    """Draw the task's plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    names = [r.method for r in rows]
    acc = [100 * r.accuracy for r in rows]
    err = [[100 * (r.accuracy - r.ci_low) for r in rows], [100 * (r.ci_high - r.accuracy) for r in rows]]
    files = []

    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows)), 3.6))
    ax.bar(names, acc, yerr=err, capsize=4, color=[_colour(r) for r in rows])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)  # the same scale in every task's plot
    ax.set_title(f"{task}: accuracy per method (95 % CI)")
    ax.tick_params(axis="x", rotation=30)
    files.append(_save(fig, out_dir, f"{task}-accuracy.png"))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r, a, lo, hi in zip(rows, acc, *err):
        ax.errorbar(100 * r.ensemble_rate, a, yerr=[[lo], [hi]], fmt="o", capsize=3, color=_colour(r))
        ax.annotate(r.method, (100 * r.ensemble_rate, a), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("E/T (% of tokens ensembled)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{task}: accuracy against E/T")
    files.append(_save(fig, out_dir, f"{task}-accuracy-vs-et.png"))

    if any(r.speed_vs_drafter is not None for r in rows):
        fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows)), 3.6))
        ax.bar(names, [r.speed_vs_drafter or 0.0 for r in rows], color=[_colour(r) for r in rows])
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylabel("tokens/s relative to the drafter alone")
        ax.set_title(f"{task}: speed")
        ax.tick_params(axis="x", rotation=30)
        files.append(_save(fig, out_dir, f"{task}-speed.png"))
    return files


def _colour(row: MethodSummary) -> str:
    return {"single": "#9e9e9e", "unite": "#e07b39", "gac": "#d4a017", "safe": "#2e7dbf"}.get(row.kind, "#555555")


def _save(fig, out_dir: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    return name
