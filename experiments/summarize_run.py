"""Summarise a training run folder: steps, tokens, minutes, throughput, validation; PNG curve.

    python experiments/summarize_run.py experiments/ptb/runs/clm-30min \
        --json experiments/ptb/results/clm-30min-train.json --png experiments/ptb/results/clm.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textebm.data.files import write_json
from textebm.eval.curves import plot_training_curve


def summarize(run: Path) -> dict:
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    train = [r for r in records if r["split"] == "train"]
    validation = [r for r in records if r["split"] == "validation"]
    tokens = sum(r["tokens"] for r in train)
    seconds = sum(r["tokens"] / r["tokens_per_second"] for r in train)
    config = json.loads((run / "train_config.json").read_text())
    return {
        "run": str(run),
        "steps": train[-1]["step"] if train else 0,
        "tokens_trained": tokens,
        "training_seconds": seconds,
        "wall_minutes": train[-1].get("minutes") if train else None,
        "mean_tokens_per_second": tokens / seconds if seconds else None,
        "tokens_per_second_min_max": [
            min(r["tokens_per_second"] for r in train),
            max(r["tokens_per_second"] for r in train),
        ],
        "final_train_loss": train[-1]["loss"] if train else None,
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
    summary = summarize(args.run)
    if args.json:
        write_json(args.json, summary)
    if args.png:
        plot_training_curve(args.run / "metrics.jsonl", args.png, title=args.title)
    shown = {k: v for k, v in summary.items() if k not in ("config", "validation")}
    print(json.dumps(shown, indent=1))
    if summary["validation"]:
        print("last validation:", json.dumps(summary["validation"][-1]))


if __name__ == "__main__":
    main()
