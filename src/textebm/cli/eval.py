"""`textebm eval`: evaluation jobs over a trained model: `eval pairs` (minimal pairs),
`eval calibration` (a classifier's calibration and out-of-distribution detection) and
`eval generations` (generated continuations against references)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from textebm.cli.eval_calibration import register_calibration
    from textebm.cli.eval_generations import register_generations
    from textebm.energies.registry import ENERGIES, energy_help

    parser = subparsers.add_parser(
        "eval", help="evaluate a model (minimal pairs, calibration, generations)"
    )
    jobs = parser.add_subparsers(dest="job", required=True)
    register_calibration(jobs)
    register_generations(jobs)
    pairs = jobs.add_parser(
        "pairs",
        help="accuracy on minimal pairs: does the good sentence get the lower energy?",
        description="Score both sentences of every pair in INPUT (JSON Lines with "
        '"sentence_good" and "sentence_bad", as in BLiMP) and count a pair right when the good '
        "one has the lower energy; a tie counts half. Pairs whose sentences are the same string "
        "are skipped and counted. Writes REPORT_DIR/pairs.jsonl (per pair: line, group, good, "
        "bad, energy_good, energy_bad, difference = energy_bad - energy_good, correct, tie), "
        "REPORT_DIR/summary.json (accuracy overall and per group, counts, settings) and "
        "REPORT_DIR/accuracy.png.",
    )
    pairs.add_argument("input", help="JSON Lines file, one pair a line (.gz read transparently)")
    pairs.add_argument("--model", required=True, help="hub id or local folder of the model")
    pairs.add_argument("--energy", choices=list(ENERGIES), default="norm", help=energy_help())
    pairs.add_argument(
        "--whole-word", action="store_true", help="also mask later sub-words (masked LMs)"
    )
    pairs.add_argument("--good-field", default="sentence_good", help="field of the good sentence")
    pairs.add_argument("--bad-field", default="sentence_bad", help="field of the bad sentence")
    pairs.add_argument(
        "--group-field",
        default=None,
        help="field to report accuracy by; default: BLiMP's UID when the first line has one, "
        "else no groups; '' for none. A field named here must be on every line.",
    )
    pairs.add_argument(
        "--batch-tokens", type=int, default=8192, help="token budget of one forward pass"
    )
    pairs.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: best one)")
    pairs.add_argument("-o", "--output", required=True, metavar="REPORT_DIR", help="report folder")
    pairs.set_defaults(func=run_pairs_command)


def run_pairs_command(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.eval.pairs import PairsConfig, run_pairs

    quiet_libraries()
    config = PairsConfig(
        input=args.input,
        model=args.model,
        output=args.output,
        energy=args.energy,
        whole_word=args.whole_word,
        good_field=args.good_field,
        bad_field=args.bad_field,
        group_field=args.group_field,
        batch_tokens=args.batch_tokens,
        device=args.device,
    )
    summary = run_pairs(config, progress=show_progress(64))  # off when CI is set
    ties = f", {summary['ties']} tied" if summary["ties"] else ""
    groups = f", {len(summary['groups'])} groups" if "groups" in summary else ""
    print(
        f"accuracy {summary['accuracy']:.4f} on {summary['pairs']} pairs{ties}{groups} "
        f"({summary['skipped_identical']} identical pairs skipped) -> {args.output}"
    )
    if summary["n_unk"]:
        print(
            f"textebm eval pairs: note: {summary['pairs_with_unk']} of {summary['pairs']} pairs "
            f"hold tokens unknown to the tokenizer ({summary['n_unk']} [UNK] in all), scored as "
            "[UNK]",
            file=sys.stderr,
        )
    return 0
