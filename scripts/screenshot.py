"""Render the chat with its votes marked, for the README: docs/images/chat.svg and docs/images/chat.png.

Opens the chat app headless on the `tiny` preset (about 2 GB of RAM and half a minute of CPU to
load), asks one short question with the chat's own sampler and a fixed seed, marks the votes
(Ctrl+T: amber where the ensemble replaced the drafter's token, green where it kept it) and
saves Textual's SVG screenshot. The history goes to a temporary file and your config file is
not read, so nothing of yours is used or changed.

The PNG is drawn from the SVG with CairoSVG (`.venv/bin/pip install cairosvg`; it needs the cairo
library). The SVG names the Fira Code font, which few machines have, so the PNG is drawn in
DejaVu Sans Mono instead (`--font` picks another monospace font).

    .venv/bin/python scripts/screenshot.py [--prompt TEXT] [--seed N] [--max-tokens N] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tui.app import ChatApp
from tui.turns import AssistantTurn

SIZE = (110, 32)  # columns, rows: the size the snapshot tests use
PROMPT = "Explain recursion in two short bullet points."


async def wait_until(pilot, condition, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the chat")
        await pilot.pause(0.1)
    await pilot.pause()


async def shoot(args: argparse.Namespace, history: Path) -> str:
    config = {"chat": {"seed": args.seed, "max_tokens": args.max_tokens}}
    app = ChatApp(preset="tiny", history=history, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.ensemble is not None and not app.loading)
        app.query_one("#composer").text = args.prompt
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reply is not None and app.reply.finished.is_set())
        turn = app.query_one(AssistantTurn)
        if not turn.events:
            raise SystemExit("no position of this reply was ensembled: try another --seed or --prompt")
        await pilot.press("ctrl+t")
        await pilot.pause(0.5)
        print(f"{len(turn.events)} ensembled positions in {len(turn.text)} characters")
        return app.export_screenshot(title="safe-local chat")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--font", default="DejaVu Sans Mono")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        svg = asyncio.run(shoot(args, Path(tmp) / "history.sqlite3"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chat.svg").write_text(svg, encoding="utf-8")

    import cairosvg

    drawn = svg.replace("font-family: Fira Code, monospace;", f"font-family: {args.font};")
    cairosvg.svg2png(bytestring=drawn.encode(), write_to=str(args.out / "chat.png"), output_width=1400)
    print(f"wrote {args.out / 'chat.svg'} and {args.out / 'chat.png'}")


if __name__ == "__main__":
    main()
