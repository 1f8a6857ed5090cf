"""`textebm generate`: continue prompts with a causal LM (with backspace where the model has it).

The work is `textebm.samplers.generate_file.generate_file(GenerateConfig(...))`; this only parses.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from textebm.samplers.generate_file import BACKSPACE_MODES

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
    parser.add_argument("--model", required=True, help="folder (or hub id) of a causal LM")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help='one prompt ("" samples from scratch)')
    source.add_argument("--prompts", metavar="FILE", help="prompts, one a line (.gz read too)")
    parser.add_argument("--max-new-tokens", type=int, default=50, help="actions per sample (50)")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1)")
    parser.add_argument("--top-k", type=int, help="keep the k most probable tokens")
    parser.add_argument("--top-p", type=float, help="nucleus: keep mass top-p, in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seeds the one generator (0)")
    parser.add_argument("--samples-per-prompt", type=int, default=1, help="default 1")
    parser.add_argument(
        "--backspace",
        choices=BACKSPACE_MODES,
        default="auto",
        help="auto (default): use <bkspc> if the model has it; on: require it; off: never draw it",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="sequences per batch (32; changes the draws)"
    )
    parser.add_argument("--device", help="e.g. cpu, cuda:0 (default: best one)")
    parser.add_argument(
        "-o", "--output", default="-", metavar="OUT.jsonl", help="default: standard output"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.samplers.generate_file import GenerateConfig, check_settings, generate_file

    config = GenerateConfig(
        model=args.model,
        prompt=args.prompt,
        prompts=args.prompts,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        samples_per_prompt=args.samples_per_prompt,
        backspace=args.backspace,
        batch_size=args.batch_size,
        device=args.device,
        output=args.output,
    )
    check_settings(config)  # before the model loads
    quiet_libraries()
    counts = generate_file(config, progress=show_progress(64))  # off when CI is set
    note = (
        f", {counts['backspaces']} backspaces in {counts['actions']} actions"
        if counts["backspace_used"]
        else ""
    )
    where = sys.stderr if args.output == "-" else sys.stdout
    print(f"wrote {counts['records']} generations{note} to {args.output}", file=where)
    return 0
