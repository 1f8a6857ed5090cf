"""`textebm generate`: continue prompts with a causal LM (with backspace where the model has it).

The work is `textebm.samplers.generate_file.generate_file(GenerateConfig(...))`; this only parses.
"""

from __future__ import annotations

import argparse
import sys

from textebm.cli.train import add_config_file_and_arguments, config_from_args
from textebm.samplers.generate_config import GenerateConfig, check_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="continue prompts with a causal LM, applying <bkspc> where the model has one",
        description="Continue each prompt (read as bos + prompt, no eos) with ancestral sampling "
        "(temperature, then top-k, then top-p) and a KV cache. With a model that has a <bkspc> "
        "token the model may delete its own last token as it samples (never a prompt token); "
        "--max-new-tokens counts actions, backspaces included. Writes JSON Lines, one record "
        "per sample: prompt, sample, text (final, backspaces applied), actions (token strings), "
        "n_actions, n_backspaces, finished (ended with eos), seed. The same flags, batch size "
        "included, give the same file.",
    )
    add_config_file_and_arguments(parser, GenerateConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.samplers.generate_file import generate_file

    config = config_from_args(args, GenerateConfig)
    check_settings(config)  # before the model loads
    quiet_libraries()
    counts = generate_file(config, progress=show_progress(64))  # off when CI is set
    note = (
        f", {counts['backspaces']} backspaces in {counts['actions']} actions"
        if counts["backspace_used"]
        else ""
    )
    where = sys.stderr if config.output == "-" else sys.stdout
    print(f"wrote {counts['records']} generations{note} to {config.output}", file=where)
    return 0
