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
    finally:
        _close_process_group()


def _close_process_group() -> None:
    """Leave a multi-process run (torchrun, accelerate launch) cleanly.

    A process that closes its gloo connections (by exiting, or by destroying the group) while a
    peer is still finishing the last collective makes that peer fail with "Connection closed by
    peer". So the processes first meet on the rendezvous store, which is no gloo connection, and
    only then close the group.
    """
    if "torch" not in sys.modules:
        return
    import time

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    store = dist.distributed_c10d._get_default_store()
    world = dist.get_world_size()
    store.add("textebm/exit", 1)
    while store.add("textebm/exit", 0) < world:
        time.sleep(0.01)
    dist.destroy_process_group()
