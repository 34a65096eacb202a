"""`safe-local chat [--preset P | --models a,b,c]`: open the terminal chat app.

Reads the user's config (its [chat] and [keybindings] tables belong to the app) and starts
`tui.app.ChatApp`, which loads the models in the background. Without --preset/--models the
app uses the [chat] table's choice, else the default preset, with that preset's options. The
app itself lives in `tui/`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app import ChatApp


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.add_parser("chat", help="chat with an ensemble in the terminal")
    which = chat.add_mutually_exclusive_group()
    which.add_argument("--preset", "-p", help="ensemble preset (e.g. tiny)")
    which.add_argument("--models", "-m", help="comma-separated short names or .gguf paths, drafter first")
    chat.add_argument("--db", help="chat history database (default: history.sqlite3 in the data dir)")
    chat.set_defaults(handler=chat_command)


def make_app(args: argparse.Namespace) -> "ChatApp":
    """The chat app the arguments describe (not yet running)."""
    from safe_local.config import load_config
    from tui.app import ChatApp  # Textual loads here, keeping `--help` fast

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    return ChatApp(models=models, preset=args.preset, history=args.db, config=load_config())


def chat_command(args: argparse.Namespace) -> int:
    make_app(args).run()
    return 0
