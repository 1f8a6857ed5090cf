"""Summarise a training run folder: steps, tokens, minutes, throughput, validation; PNG curve.

Time-budgeted results compare across machines only beside what each machine could do: the
summary lists every training session's precision and its measured fp32 (and bf16) matrix-product
rate (the run's sessions.jsonl), and the tokens the last validation had trained on.

    python experiments/summarize_run.py experiments/ptb/runs/clm-30min \
        --json experiments/ptb/results/clm-30min-train.json --png experiments/ptb/results/clm.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textebm.data.files import write_json
from textebm.eval.curves import plot_training_curve


def summarize(run: Path) -> dict:
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    train = [r for r in records if r["split"] == "train"]
    validation = [r for r in records if r["split"] == "validation"]
    logged = sum(r["tokens"] for r in train)  # the tokens of the timed windows
    seconds = sum(r["tokens"] / r["tokens_per_second"] for r in train)
    # tokens_trained counts every step over resumes; runs recorded before it existed: the windows.
    tokens = train[-1].get("tokens_trained", logged) if train else 0
    config = json.loads((run / "train_config.json").read_text())
    sessions_path = run / "sessions.jsonl"
    sessions = []
    if sessions_path.exists():
        sessions = [json.loads(x) for x in sessions_path.read_text().splitlines() if x]
    return {
        "run": str(run),
        "steps": train[-1]["step"] if train else 0,
        "tokens_trained": tokens,
        "training_seconds": seconds,
        "wall_minutes": train[-1].get("minutes") if train else None,
        "mean_tokens_per_second": logged / seconds if seconds else None,
        "tokens_per_second_min_max": [
            min(r["tokens_per_second"] for r in train),
            max(r["tokens_per_second"] for r in train),
        ]
        if train
        else None,
        "final_train_loss": train[-1]["loss"] if train else None,
        "mixed_precision": config.get("mixed_precision"),
        "sessions": sessions,
        "validation": validation,
        "config": {k: v for k, v in config.items() if k not in ("output", "overwrite")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--png", help="write the training curve here")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    for needed in ("metrics.jsonl", "train_config.json"):
        if not (args.run / needed).is_file():
            print(
                f"summarize_run.py: error: {args.run} has no {needed}: not a training run, or one "
                "that stopped before its first logged step",
                file=sys.stderr,
            )
            sys.exit(2)
    summary = summarize(args.run)
    if args.json:
        write_json(args.json, summary)
    if args.png:
        plot_training_curve(args.run / "metrics.jsonl", args.png, title=args.title)
    shown = {k: v for k, v in summary.items() if k not in ("config", "validation", "sessions")}
    print(json.dumps(shown, indent=1))
    for session in summary["sessions"]:
        rates = ", ".join(
            f"{key.removeprefix('matmul_gflops_')} {value:.0f}"
            for key, value in session.items()
            if key.startswith("matmul_gflops_")
        )
        print(
            f"session from step {session['step']} ({session['tokens_trained']} tokens trained): "
            f"{session['mixed_precision']} on {session['device']} ({session['cpu']}, "
            f"{session['threads']} threads), matmul GFLOP/s {rates}"
        )
    if summary["validation"]:
        print("last validation:", json.dumps(summary["validation"][-1]))


if __name__ == "__main__":
    main()
