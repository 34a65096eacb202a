"""`safe-local chat [--preset P | --models a,b,c]`: open the terminal chat app.

Reads the user's config (its [chat] and [keybindings] tables belong to the app) and starts
`tui.app.ChatApp`, which loads the models in the background. Without --preset/--models the
app uses the [chat] table's choice, else the default preset, with that preset's options. The
app itself lives in `tui/`.
"""

from __future__ import annotations

import argparse
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from safe_local.commands.run import PLACEMENT_HELP, model_list
from safe_local.errors import SafeLocalError

if TYPE_CHECKING:
    from tui.app import ChatApp


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.add_parser("chat", help="chat with an ensemble in the terminal")
    which = chat.add_mutually_exclusive_group()
    which.add_argument("--preset", "-p", help="ensemble preset (e.g. tiny)")
    which.add_argument("--models", "-m", type=model_list, help="comma-separated short names or .gguf paths, drafter first" + PLACEMENT_HELP)
    chat.add_argument("--db", help="chat history database (default: history.sqlite3 in the data dir)")
    chat.set_defaults(handler=chat_command)


def make_app(args: argparse.Namespace) -> ChatApp:
    """The chat app the arguments describe (not yet running)."""
    from safe_local.config import load_config
    from tui.app import ChatApp  # Textual loads here, keeping `--help` fast

    return ChatApp(models=args.models, preset=args.preset, history=args.db, config=load_config())


def check_choice(args: argparse.Namespace) -> None:
    """Fail before the full-screen app opens on what the command line got wrong.

    A preset or model that does not exist and a history file in a missing directory are
    refused here; a known model that is not downloaded yet is fine: the app offers to pull it.
    """
    from safe_local.store import NotDownloaded, resolve_model, select_ensemble

    if args.db and not Path(args.db).expanduser().parent.is_dir():
        raise SafeLocalError(f"--db {args.db}: its directory does not exist; create it or give another path")
    if args.models or args.preset:
        specs, _ = select_ensemble(args.models, args.preset)
        for spec in specs:
            with suppress(NotDownloaded):
                resolve_model(spec)


def chat_command(args: argparse.Namespace) -> int:
    check_choice(args)
    make_app(args).run()
    return 0
