"""The `safe-local` command line: parser assembly, logging and one-line errors.

Each subcommand lives in its own module under `safe_local.commands` with a
`register(subparsers)` function that adds its parser and sets `handler` (a function taking the
parsed arguments and returning an exit status). Commands only call the Python API; they hold
no generation logic. Errors a user can fix print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from safe_local.errors import SafeLocalError

PROG = "safe-local"
# Subcommand modules in safe_local.commands, in the order `--help` lists them.
COMMANDS = ("run", "chat", "serve", "store", "eval", "tune", "doctor")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage dump is not a one-line error
        raise SafeLocalError(f"{message} (see: {self.prog} --help)")


class CommandParser(Parser):
    """A subcommand's parser: it reports arguments it does not know itself.

    argparse passes them up to the top-level parser, whose error would point at
    `safe-local --help` instead of the subcommand's help.
    """

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        if extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed, extra


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Local LLM ensembling with SAFE on llama.cpp.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show llama.cpp and engine logs on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    for name in COMMANDS:
        importlib.import_module(f"safe_local.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        logging.getLogger("safe_local.llama_cpp").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
        return args.handler(args)
    except SafeLocalError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
