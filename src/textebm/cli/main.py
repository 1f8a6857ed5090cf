"""Entry point of the `textebm` command.

Each job lives in its own module under `textebm.cli` and exposes `register(subparsers)`, which adds
its sub-parser and sets `func`, a callable taking the parsed arguments and returning an exit code.
A `UsageError` anywhere below becomes one line on standard error and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from textebm import __version__
from textebm.errors import UsageError

# Modules under textebm.cli that define a command; imported lazily so `--help` stays fast.
COMMAND_MODULES = ["demo", "sample", "score", "tiny_model", "train", "verify"]


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
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"textebm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"textebm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
