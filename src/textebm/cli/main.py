"""Entry point of the `textebm` command.

Each job lives in its own module under `textebm.cli` and exposes `register(subparsers)`, which adds
its sub-parser and sets `func`, a callable taking the parsed arguments and returning an exit code.
A `UsageError` anywhere below becomes one line on standard error and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from textebm import __version__
from textebm.errors import UsageError

# Modules under textebm.cli that define a command; imported lazily so `--help` stays fast.
COMMAND_MODULES = [
    "demo",
    "eval",
    "generate",
    "generate_noise",
    "sample",
    "score",
    "tiny_model",
    "train",
    "translate",
    "verify",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="textebm", description="Energy-based models of text.")
    parser.add_argument("--version", action="version", version=f"textebm {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"textebm.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, so that a closed pipe is caught below, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`textebm score big.txt | head`): end quietly, as cat or grep do.
        # Point stdout at devnull so the interpreter's own flush at exit cannot complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
    except UsageError as error:
        print(f"textebm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"textebm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
