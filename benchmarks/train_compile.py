"""Training throughput of the causal-LM recipe with and without `--compile`, in one run.

    . .venv/bin/activate
    python benchmarks/train_compile.py [--results benchmarks/RESULTS-compile.md]

Both sides are `textebm train clm` on PTB as `experiments/ptb/train_clm.sh` trains it (4 x 256,
context 128, 16 blocks a step, bf16 autocast), each a fresh process, alternating for --repeats
rounds. Throughput is the recipe's own `tokens_per_second` (training steps only) over the
`--log-every` windows after the first, whose compilation is reported apart: the seconds the
compiled run's first window took beyond the eager one's, with an empty inductor cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_report

PTB = Path(__file__).resolve().parents[2] / "shared/data/ptb/ptb.train.txt.gz"


def run(args: argparse.Namespace, tokenizer: str, compiled: bool) -> dict:
    # A fresh inductor cache per run: the compiled side pays its whole compilation every time,
    # as on a new machine (a warm cache cuts it to seconds).
    with tempfile.TemporaryDirectory() as output, tempfile.TemporaryDirectory() as cache:
        command = [
            *("textebm", "train", "clm", "--corpus", str(args.corpus), "--tokenizer", tokenizer),
            *("--preset", "small", "--context-length", "128", "--batch-size", "16"),
            *("--mixed-precision", "bf16", "--max-steps", str(args.steps)),
            *("--log-every", str(args.log_every), "--eval-every", "0", "--checkpoint-every", "0"),
            *("--output", output, *(["--compile"] if compiled else [])),
        ]
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "CI": "1", "TORCHINDUCTOR_CACHE_DIR": cache},
        )
        wall = time.perf_counter() - started
        if result.returncode:
            sys.exit(f"{'compiled' if compiled else 'eager'} run failed:\n{result.stderr[-3000:]}")
        records = [
            json.loads(line) for line in Path(output, "metrics.jsonl").read_text().splitlines()
        ]
    windows = [r for r in records if r["split"] == "train"]
    first = windows[0]["tokens"] / windows[0]["tokens_per_second"]
    return {
        "tokens_per_second": statistics.median(r["tokens_per_second"] for r in windows[1:]),
        "first_window_seconds": first,
        "wall_seconds": wall,
        "load_before": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=PTB)
    parser.add_argument("--tokenizer", help="word-level tokenizer folder (default: train one)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, help="also write the report to this markdown file")
    args = parser.parse_args()
    sides: dict[str, list[dict]] = {"eager": [], "compiled": []}
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = args.tokenizer
        if tokenizer is None:
            subprocess.run(
                [
                    "textebm",
                    "train",
                    "tokenizer",
                    "--corpus",
                    str(args.corpus),
                    "--kind",
                    "wordlevel",
                    "--output",
                    folder,
                ],
                check=True,
                capture_output=True,
            )
            tokenizer = folder
        for _ in range(args.repeats):
            for side in sides:
                record = run(args, tokenizer, side == "compiled")
                sides[side].append(record)
                lines.append(
                    f"    {side}: {record['tokens_per_second']:,.0f} tokens/s after the first "
                    f"window; first window {record['first_window_seconds']:.1f} s; process "
                    f"{record['wall_seconds']:.1f} s (load before {record['load_before']:.2f})"
                )
                print(lines[-1], flush=True)
    eager = statistics.median(r["tokens_per_second"] for r in sides["eager"])
    compiled = statistics.median(r["tokens_per_second"] for r in sides["compiled"])
    overhead = statistics.median(
        c["first_window_seconds"] - e["first_window_seconds"]
        for e, c in zip(sides["eager"], sides["compiled"], strict=True)
    )
    report = [
        f"PTB causal LM 4 x 256, context 128, 16 blocks a step, bf16, {args.steps} steps a run, "
        f"median of {args.repeats} runs a side, {os.cpu_count()} CPUs",
        "",
        "| side | tokens/s (after the first window) | ratio |",
        "|---|---|---|",
        f"| eager | {eager:,.0f} | 1.00x |",
        f"| `--compile` | {compiled:,.0f} | {compiled / eager:.2f}x |",
        "",
        f"Compilation: the compiled run's first {args.log_every}-step window took {overhead:.1f} s "
        "longer than the eager one's. Runs in order:",
        "",
        *lines,
    ]
    text = "\n".join(report)
    print(text)
    if args.results:
        write_report(args.results, "Training throughput with `--compile`", text)


if __name__ == "__main__":
    main()
