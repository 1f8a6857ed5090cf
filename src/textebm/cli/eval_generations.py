"""`textebm eval generations`: judge a `textebm generate` file against reference continuations.

Hooked in by `textebm.cli.eval`: `register_generations(sub)` adds the sub-command. The work is
`textebm.eval.generations_report.evaluate_generations`.
"""

from __future__ import annotations

import argparse


def register_generations(eval_subparsers: argparse._SubParsersAction) -> None:
    parser = eval_subparsers.add_parser(
        "generations",
        help="distinct-n, repetition, reference perplexity, backspace use and MAUVE of generations",
        description="Measure generated continuations (JSON Lines of textebm generate) against "
        "reference continuations (one a line): distinct-1..4 with both denominators (per "
        "n-gram and per token), repetition_4 (within-text repeated 4-grams / 4-grams), the "
        "backspace rate; with --reference-model, the continuations' perplexity under that "
        "causal LM given their prompts, and how often a backspace deleted a token the reference "
        "LM finds unlikely (log-prob below the median of the kept tokens'); with "
        "--features-model, MAUVE (mauve-text, extra 'mauve') on mean-pooled hidden states of "
        "that local encoder. Writes REPORT_DIR/summary.json and REPORT_DIR/table.md.",
    )
    parser.add_argument("--generations", required=True, metavar="FILE.jsonl", help="records")
    parser.add_argument("--references", required=True, metavar="FILE", help="one a line")
    parser.add_argument("--reference-model", metavar="CLM_DIR", help="causal LM to score with")
    parser.add_argument("--features-model", metavar="ENCODER_DIR", help="local encoder (MAUVE)")
    parser.add_argument("--mauve-seed", type=int, default=25, help="k-means seed (25)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per encoder pass")
    parser.add_argument("--device", help="e.g. cpu, cuda:0 (default: best one)")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.eval.generations_report import GenerationsEvalConfig, evaluate_generations

    quiet_libraries()
    config = GenerationsEvalConfig(
        generations=args.generations,
        references=args.references,
        output=args.output,
        reference_model=args.reference_model,
        features_model=args.features_model,
        mauve_seed=args.mauve_seed,
        batch_size=args.batch_size,
        device=args.device,
    )
    summary = evaluate_generations(config)["generations"]
    parts = [f"distinct-2 (per n-gram) {summary['distinct_2_per_ngram']:.4f}"]
    parts.append(f"repetition_4 {summary['repetition_4']:.4f}")
    parts.append(f"backspace rate {summary['backspace_rate']:.4f}")
    if "reference_perplexity" in summary:
        parts.append(f"reference perplexity {summary['reference_perplexity']:.2f}")
    if "mauve" in summary:
        parts.append(f"MAUVE {summary['mauve']:.4f}")
    print(f"{summary['count']} generations: " + ", ".join(parts) + f" -> {args.output}")
    return 0
