"""Timed runs in fresh processes, and how busy the machine was meanwhile.

A timing is only worth a ratio when nothing else ran: every run records the CPU time the rest of
the machine used during it (from /proc/stat, minus this script's own children), is retried when
that exceeds a threshold, and stays marked `busy` when it still does after its retries, so the
report can refuse the ratios that depend on it instead of printing a distorted figure.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def cpu_busy_seconds() -> float:
    """CPU seconds all processes on the machine have spent busy since boot."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6))  # user nice system irq softirq (no steal)
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(command: list[str], threads: int, cwd: Path, json_output: bool = True) -> dict:
    """Run one command; its JSON (if any) plus the wall time and the CPU others used meanwhile.

    The wall time covers the whole process (interpreter start, imports, model loading), which is
    what the command-line check compares.
    """
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        CI="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONWARNINGS="ignore",
    )
    busy, mine, start = cpu_busy_seconds(), children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {shlex.join(command)} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout) if json_output else {}
    others = (cpu_busy_seconds() - busy) - (children_cpu_seconds() - mine)
    result["wall"] = wall
    result["other_cores"] = max(others, 0.0) / wall
    result["load"] = os.getloadavg()
    return result


def wait_for_quiet(max_load: float, max_wait: float, say: Callable[[str], None]) -> tuple:
    """Wait until the 1-minute load average is below max_load, at most max_wait seconds."""
    deadline = time.monotonic() + max_wait
    while (load := os.getloadavg())[0] > max_load and time.monotonic() < deadline:
        print(f"load average {load[0]:.2f} > {max_load}: waiting 30 s", file=sys.stderr)
        time.sleep(30)
    if load[0] > max_load:
        say(f"WARNING: load average still {load[0]:.2f} after waiting {max_wait:.0f} s")
    return load


class Timer:
    """Runs timed commands, retrying a run while other processes used more than `max_others`
    cores during it; a run still over after `retries` reruns is kept but marked `busy`."""

    def __init__(
        self,
        threads: int,
        cwd: Path,
        max_others: float,
        retries: int,
        max_load: float,
        max_wait: float,
        say: Callable[[str], None],
    ) -> None:
        self.threads, self.cwd = threads, cwd
        self.max_others, self.retries = max_others, retries
        self.max_load, self.max_wait, self.say = max_load, max_wait, say

    def __call__(self, label: str, command: list[str], json_output: bool = True) -> dict:
        for attempt in range(self.retries + 1):
            run = run_process(command, self.threads, self.cwd, json_output)
            run["attempts"], run["label"] = attempt + 1, label
            run["busy"] = run["other_cores"] > self.max_others
            if not run["busy"] or attempt == self.retries:
                return run
            print(
                f"{label}: other processes used {run['other_cores']:.2f} cores meanwhile; "
                "rerunning",
                file=sys.stderr,
                flush=True,
            )
            wait_for_quiet(self.max_load, self.max_wait, self.say)
        raise AssertionError("unreachable")


def refusal(runs: list[dict]) -> str | None:
    """'no ratio reported: ...' when any of the runs behind a ratio was busy, else None."""
    busy = [f"{run['label']} ({run['other_cores']:.2f} other cores)" for run in runs if run["busy"]]
    if not busy:
        return None
    return "no ratio reported: machine busy during " + ", ".join(busy)
