"""`textebm tiny-model`: build a small random model offline, for trying the tool out."""

from __future__ import annotations

import argparse
from pathlib import Path

from textebm.errors import UsageError

# --kind: what is built, and the `--energy` that reads it.
KINDS = {
    "mlm": "a BERT masked LM (--energy norm|raw)",
    "clm": "a GPT-2 causal LM (--energy clm; word-level tokenizer only)",
    "electric": "an Electric model: BERT encoder + per-token energy head (--energy electric)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tiny-model",
        help="build a tiny random model (masked LM, causal LM or Electric) and its tokenizer",
        description="Build a 2-layer, 32-wide model with random weights and a small English "
        "tokenizer, saved with save_pretrained so `--model DIR` loads it like a hub model. "
        "Kinds: " + "; ".join(f"{kind}: {text}" for kind, text in KINDS.items()) + ".",
    )
    parser.add_argument("output", help="folder to write the model and tokenizer to")
    parser.add_argument(
        "--kind", choices=sorted(KINDS), default="mlm", help="what to build (default: mlm)"
    )
    parser.add_argument("--tokenizer", choices=["wordlevel", "wordpiece"], default="wordlevel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace what a non-empty OUTPUT folder holds"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.models.tiny import build_tiny_clm, build_tiny_electric, build_tiny_mlm

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not args.overwrite:
        raise UsageError(f"{output} is not empty; pass --overwrite to replace what it holds")
    if args.kind == "clm" and args.tokenizer != "wordlevel":
        raise UsageError("--kind clm builds a word-level tokenizer only; drop --tokenizer")
    quiet_libraries()
    if args.kind == "clm":
        build_tiny_clm(output, seed=args.seed)
    elif args.kind == "electric":
        build_tiny_electric(output, tokenizer_kind=args.tokenizer, seed=args.seed)
    else:
        build_tiny_mlm(output, tokenizer_kind=args.tokenizer, seed=args.seed)
    names = {"mlm": "masked LM", "clm": "causal LM", "electric": "Electric model"}
    print(f"wrote a tiny {args.tokenizer} {names[args.kind]} to {output}/")
    return 0
