"""`textebm generate-noise`: noise texts that look like a training file, cached as JSON Lines
for `textebm train classifier --noise-file`.

The flags are `NoiseConfig`'s fields and the work is
`textebm.samplers.make_noise.generate_noise(config, output)`: this module only parses.
"""

from __future__ import annotations

import argparse

from textebm.cli.train import add_config_file_and_arguments, config_from_args
from textebm.samplers.noise_config import NoiseConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate-noise",
        help="noise for joint-EBM classifier training (masked texts refilled or rewritten)",
        description="For each training example, write K noise texts. mlm-fill: 40% of its "
        "tokens (each side of a sentence pair on its own) masked and refilled from a masked LM, "
        "top-k sampled. rewrite: a model trained with `textebm train noise-lm` writes the full "
        "text after a prompt with each token masked with probability 0.4 (runs merged), top-k "
        "20. The file's header records the task (the training texts' hash) and tokenizer it was "
        "made for, which train classifier --noise-file checks.",
    )
    add_config_file_and_arguments(parser, NoiseConfig)
    parser.add_argument("-o", "--output", required=True, help="noise file to write (.jsonl)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.data.files import check_output
    from textebm.samplers.make_noise import generate_noise

    config = config_from_args(args, NoiseConfig)
    inputs = tuple(path for path in (config.train,) if path is not None)
    check_output(args.output, inputs=inputs)  # before the model loads, not after the work
    quiet_libraries()
    count = generate_noise(config, args.output, progress=show_progress(1000))
    print(f"wrote {count} noise texts ({config.method}, K = {config.ratio}) to {args.output}")
    return 0
