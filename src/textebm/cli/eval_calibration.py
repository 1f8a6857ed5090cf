"""`textebm eval calibration`: a classifier's calibration report (JSON summary and PNGs).

Hooked in by `textebm.cli.eval`, which owns the `eval` command: `register_calibration(sub)` adds
the `calibration` sub-command to its sub-parsers.
"""

from __future__ import annotations

import argparse


def register_calibration(eval_subparsers: argparse._SubParsersAction) -> None:
    parser = eval_subparsers.add_parser(
        "calibration",
        help="calibration report of a sequence classifier (ECE, MCE, Brier, NLL, OOD AUROC)",
        description="Measure a classifier's accuracy, expected and maximum calibration error "
        "(top-label, equal-width bins, L1), Brier score (summed over classes) and NLL, raw and "
        "after temperature scaling, with bootstrap intervals; write REPORT_DIR/summary.json and "
        "reliability diagrams (PNG). With only --data, the temperature is fitted on a seeded "
        "half of it and the metrics reported on the other half; with --fit, fitted on that file "
        "and reported on all of --data. With --ood, the AUROC of telling those sentences from "
        "--data's by max softmax probability and by the energies hidden (-logsumexp f) and "
        "sharp-hidden (-max f).",
    )
    parser.add_argument("--model", required=True, help="folder (or hub id) of a classifier")
    parser.add_argument(
        "--data",
        required=True,
        help="labelled TSV to report on (.gz read too); with --dataset, the split to report on",
    )
    parser.add_argument(
        "--fit",
        help="labelled TSV to fit the temperature on (e.g. all of dev); with --dataset, a split",
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="a labelled Hugging Face dataset (hub name, or a folder written by save_to_disk): "
        "--data and --fit then name its splits (e.g. --data test --fit validation)",
    )
    parser.add_argument("--ood", help="out-of-distribution sentences, one a line")
    parser.add_argument("-o", "--output", required=True, help="report folder (created if missing)")
    parser.add_argument("--text-column", default="sentence", help="default: sentence")
    parser.add_argument("--text-pair-column", help="second text column, for sentence pairs")
    parser.add_argument("--label-column", default="label", help="default: label")
    parser.add_argument(
        "--labels", help="label names, comma-separated, label i the i-th (default: 0..C-1)"
    )
    parser.add_argument(
        "--temperature-method",
        choices=["nll", "ece-grid"],
        default="nll",
        help="nll (default): the T of least NLL on the fitting set; ece-grid: the T in "
        "0.1..3.0 (step 0.1) of lowest ECE, as the reference code",
    )
    parser.add_argument("--bins", type=int, default=20, help="equal-width bins (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the half-split and bootstrap")
    parser.add_argument(
        "--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="default 32")
    parser.add_argument("--max-length", type=int, help="cut inputs to this many tokens")
    parser.add_argument("--device", help="e.g. cpu, cuda:0 (default: best one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries
    from textebm.eval.calibration_report import CalibrationConfig, calibration_report

    quiet_libraries()
    config = CalibrationConfig(
        model=args.model,
        data=args.data,
        output_dir=args.output,
        fit=args.fit,
        ood=args.ood,
        dataset=args.dataset,
        text_column=args.text_column,
        text_pair_column=args.text_pair_column,
        label_column=args.label_column,
        labels=args.labels,
        temperature_method=args.temperature_method,
        n_bins=args.bins,
        seed=args.seed,
        resamples=args.resamples,
        batch_size=args.batch_size,
        max_length=args.max_length,
        device=args.device,
    )
    summary = calibration_report(config)
    raw, scaled = summary["raw"], summary["scaled"]
    print(
        f"{summary['protocol']}: T = {summary['temperature']:.3f} fitted on {summary['n_fit']}, "
        f"reported on {summary['n_report']}: accuracy {raw['accuracy']:.4f}, "
        f"ECE {raw['ece']:.4f} -> {scaled['ece']:.4f}, NLL {raw['nll']:.4f} -> "
        f"{scaled['nll']:.4f}; report in {args.output}"
    )
    return 0
