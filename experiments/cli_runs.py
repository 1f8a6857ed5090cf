"""Helpers for experiment scripts that drive the `textebm` command line as a user would: a log
that records every command and its wall time, and the training cost read from metrics.jsonl.
Used by arithmetic/sequencematch_arithmetic.py, grammar/electric_vs_pll.py and
text/sequencematch_text.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

LOG: list[str] = []


def say(line: str = "") -> None:
    """Print a line and keep it for the recorded log (`write_log`)."""
    print(line, flush=True)
    LOG.append(line)


def write_log(path: Path) -> None:
    path.write_text("\n".join(LOG) + "\n")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def textebm(*args: str) -> float:
    """Run one `textebm` command as a user would; return its wall time in seconds. A failure
    prints the command's output and stops the script."""
    command = [sys.executable, "-m", "textebm", *args]
    say("$ textebm " + " ".join(args))
    started = time.perf_counter()
    env = {**os.environ, "CI": "1"}  # no progress bars in the recorded output
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): textebm {' '.join(args)}")
    say(f"  ({seconds:.0f} s, load average {load_average()})")
    return seconds


def read_metrics(folder: Path) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def data_tokens_per_second(records: list[dict], after_step: int = 0) -> float:
    """Data tokens over training seconds, pooled over the logged train intervals that start at or
    after `after_step` (so a SequenceMatch run's BC warm-up can be left out). Each train record
    holds its interval's `tokens` and `tokens_per_second`, whose ratio is the interval's seconds
    (the recipes' `tokens` are data tokens: for SequenceMatch those of the original sequences,
    not the noise, backspaces or model samples)."""
    train = sorted((r for r in records if r.get("split") == "train"), key=lambda r: r["step"])
    tokens = seconds = 0.0
    previous = 0
    for record in train:
        if previous >= after_step and record.get("tokens_per_second"):
            tokens += record["tokens"]
            seconds += record["tokens"] / record["tokens_per_second"]
        previous = record["step"]
    return tokens / seconds if seconds else float("nan")


def last_validation(records: list[dict]) -> dict:
    found = [r for r in records if r.get("split") == "validation"]
    return found[-1] if found else {}
