"""`textebm tiny-model`: build a small random masked LM offline, for trying the tool out."""

from __future__ import annotations

import argparse
from pathlib import Path

from textebm.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tiny-model",
        help="build a tiny random BERT masked LM and its tokenizer (offline)",
        description="Build a 2-layer, 32-wide BERT with random weights and a small English "
        "tokenizer, saved with save_pretrained so `--model DIR` loads it like a hub model.",
    )
    parser.add_argument("output", help="folder to write the model and tokenizer to")
    parser.add_argument("--tokenizer", choices=["wordlevel", "wordpiece"], default="wordlevel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace what a non-empty OUTPUT folder holds"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.models.tiny import build_tiny_mlm

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not args.overwrite:
        raise UsageError(f"{output} is not empty; pass --overwrite to replace what it holds")
    quiet_libraries()
    build_tiny_mlm(output, tokenizer_kind=args.tokenizer, seed=args.seed)
    print(f"wrote a tiny {args.tokenizer} masked LM to {output}/")
    return 0
