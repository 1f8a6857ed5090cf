"""`textebm demo`: train and evaluate on the embedded language, offline (see textebm.demo)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a tiny masked LM on the embedded language and evaluate its energies",
        description="Generate a corpus from textebm's embedded grammar (exact probabilities), "
        "train a tiny masked LM (cached for the next run), and report how well its energies "
        "separate grammatical sentences from corruptions; then sample from it with "
        "Metropolis-Hastings and degenerate Gibbs and judge the samples by the grammar.",
    )
    parser.add_argument("--output", default="textebm-demo", help="folder for every output")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps")
    parser.add_argument(
        "--chains",
        type=int,
        default=None,
        help="sampling chains for MH and Gibbs (default 32; 0 skips sampling)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.demo import DemoConfig, report, run_demo
    from textebm.errors import UsageError

    config = DemoConfig(output=args.output, seed=args.seed)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise UsageError(f"--max-steps must be positive, not {args.max_steps}")
        config.max_steps = args.max_steps
    if args.chains is not None:
        if args.chains < 0:
            raise UsageError(f"--chains must be 0 or more, not {args.chains}")
        config.sampling_chains = args.chains
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file, not a folder")
    try:  # here, so that a bad --output stops the demo before it generates or trains anything
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output {output} cannot be created ({error.strerror})") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise UsageError(f"--output {output} is not writable")
    quiet_libraries()
    print(report(run_demo(config), args.output))
    return 0
