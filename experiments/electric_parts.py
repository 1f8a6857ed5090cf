"""What the two Electric experiments (issue 11: `ptb_electric/run.py`, `open_vocab/run.py`) share:
running in parts, driving the `textebm` CLI as a user would, logging, and the evaluation (minimal
pairs through `textebm eval pairs`, per-token scores through `textebm score`, their Spearman
correlations) with its tables.

A part is skipped when its outputs exist (a trained model's `model.safetensors`, an evaluation's
`summary.json` or scores file), so a script run again picks up where it stopped; a training part
cut short resumes from its last checkpoint (the same `textebm train` command in the same folder).
Everything printed is appended to OUT/NAME.log; the figures are merged into OUT/NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from textebm.data.files import atomic_write, read_lines, write_json


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def electric_label(u: float) -> str:
    """The label (and run subfolder) of the Electric model trained with --noise-uniform u."""
    return f"electric-u{u:g}"


def experiment_folders(name: str, args: argparse.Namespace) -> tuple[str, Path, Path]:
    """(mode, run, out) of experiments/NAME from --tiny, --run and --out, after making the
    repository root the working directory (the experiments' paths are relative to it).

    mode: "tiny" with --tiny, else "full"; run: --run, else experiments/NAME/runs/MODE; out:
    --out, else experiments/NAME/results (results/tiny with --tiny).
    """
    os.chdir(Path(__file__).resolve().parents[1])  # experiments/..
    here = Path("experiments") / name
    mode = "tiny" if args.tiny else "full"
    run = Path(args.run or here / "runs" / mode)
    out = Path(args.out or (here / "results" / "tiny" if args.tiny else here / "results"))
    return mode, run, out


def start_experiment(
    name: str, args: argparse.Namespace, all_parts: list[str]
) -> tuple[Experiment, str]:
    """The `Experiment` of experiments/NAME (`experiment_folders`; parts from --part) and its
    mode, its first log line said (parts, time, load average)."""
    mode, run, out = experiment_folders(name, args)
    exp = Experiment(name, run, out, args.part, all_parts)
    exp.say(f"== {name} ({mode}) parts {exp.parts}; {time.strftime('%F %T %Z')}; "
            f"load average {load_average()}")  # fmt: skip
    return exp, mode


class Experiment:
    """One experiment's run folder (models, data: not in git), results folder and log."""

    def __init__(self, name: str, run: Path, out: Path, parts: list[str], all_parts: list[str]):
        unknown = set(parts) - set(all_parts)
        if unknown:
            raise SystemExit(f"unknown --part {sorted(unknown)}; choose from {all_parts}")
        self.name, self.run, self.out = name, run, out
        self.parts = parts or all_parts
        run.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        self.log_path = out / f"{name}.log"
        self.results_path = out / f"{name}.json"

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def wants(self, part: str) -> bool:
        return part in self.parts

    def record(self, key: str, value: object) -> None:
        """Merge `value` under `key` into OUT/NAME.json (written atomically)."""
        results = json.loads(self.results_path.read_text()) if self.results_path.exists() else {}
        results[key] = value
        write_json(self.results_path, results)

    def results(self) -> dict:
        return json.loads(self.results_path.read_text()) if self.results_path.exists() else {}

    def textebm(self, *args: str) -> float:
        """Run one `textebm` command; return its wall time in seconds. Its output goes to
        RUN/logs/ (the last lines into the log on failure)."""
        command = [sys.executable, "-m", "textebm", *args]
        self.say("$ textebm " + " ".join(args))
        logs = self.run / "logs"
        logs.mkdir(exist_ok=True)
        log_file = logs / f"{time.strftime('%Y%m%d-%H%M%S')}-{args[0]}-{args[1]}.txt"
        started = time.perf_counter()
        env = {**os.environ, "CI": "1"}  # no progress bars in the recorded output
        with log_file.open("w") as handle:
            result = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        if result.returncode:
            tail = log_file.read_text().splitlines()[-15:]
            self.say("\n".join(tail))
            raise SystemExit(f"failed ({result.returncode}): textebm {' '.join(args)}")
        self.say(f"  ({seconds:.0f} s, load average {load_average()})")
        return seconds

    def train(self, key: str, folder: Path, args: list[str]) -> None:
        """`textebm train ARGS --output FOLDER` unless FOLDER holds a finished model; its
        summary (steps, tokens, last validation) is recorded under training.KEY."""
        if finished(folder):
            self.say(f"[{key}] finished model in {folder}: skipped")
        else:
            seconds = self.textebm("train", *args, "--output", str(folder))
            self.say(f"[{key}] trained in {seconds:.0f} s")
        summary = training_summary(folder)
        validation = {k: round(v, 4) for k, v in summary["last_validation"].items()}
        self.say(f"[{key}] {summary['steps']} steps, {summary['tokens_trained']} tokens, "
                 f"{summary['minutes']:.1f} min; last validation {validation}")  # fmt: skip
        training = self.results().get("training", {})
        self.record("training", {**training, key: summary})


def finished(folder: Path) -> bool:
    """A training run's final model is saved (the loop writes it only at the end)."""
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


def training_summary(folder: Path) -> dict:
    """Steps, tokens trained, minutes, the last training record and every validation of a run."""
    records = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        if line.strip():
            records.append(json.loads(line))
    train = [r for r in records if r.get("split") == "train"]
    validation = [r for r in records if r.get("split") == "validation"]
    last = train[-1] if train else {}

    def numbers(record: dict) -> dict:
        return {k: v for k, v in record.items() if isinstance(v, (int, float))}

    return {
        "steps": last.get("step", 0),
        "tokens_trained": last.get("tokens_trained"),
        "minutes": last.get("minutes"),
        "last_train": numbers(last),
        "last_validation": numbers(validation[-1]) if validation else {},
        # every validation, so figures quoted along the run stay in git with the results
        "validations": [numbers(record) for record in validation],
    }


def write_pairs(path: Path, pairs: list[dict]) -> dict[str, int]:
    with atomic_write(path) as handle:
        handle.writelines(json.dumps(p) + "\n" for p in pairs)
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair["group"]] = counts.get(pair["group"], 0) + 1
    return counts


def eval_pairs(
    experiment: Experiment, label: str, energy: str, model: Path, pairs: Path, set_name: str
) -> dict:
    """`textebm eval pairs` (grouped by kind) into RUN/pairs-SET/LABEL, unless done; the summary
    and bar chart are copied to OUT/pairs-SET/LABEL/."""
    report = experiment.run / f"pairs-{set_name}" / label
    if (report / "summary.json").is_file():
        experiment.say(f"[eval] pairs {set_name} {label}: done before, skipped")
    else:
        report.parent.mkdir(parents=True, exist_ok=True)
        seconds = experiment.textebm(
            "eval", "pairs", "--model", str(model), "--energy", energy, "--group-field", "group",
            "--device", "cpu", str(pairs), "-o", str(report),
        )  # fmt: skip
        (report / "seconds.txt").write_text(f"{seconds:.1f}\n")
    kept = experiment.out / f"pairs-{set_name}" / label
    kept.mkdir(parents=True, exist_ok=True)
    for name in ("summary.json", "accuracy.png", "seconds.txt"):
        if (report / name).is_file():
            shutil.copyfile(report / name, kept / name)
    summary = json.loads((report / "summary.json").read_text())
    groups = {g: v["accuracy"] for g, v in summary["groups"].items()}
    experiment.say(
        f"  {set_name} {label}: accuracy {summary['accuracy']:.3f}; "
        + ", ".join(f"{g} {a:.3f}" for g, a in groups.items())
    )
    return {"all": summary["accuracy"], **groups, "pairs": summary["pairs"]}


def score_file(
    experiment: Experiment, label: str, energy: str, model: Path, text: Path
) -> dict[str, list[float] | float]:
    """`textebm score` of every line of TEXT into RUN/scores/LABEL.jsonl, unless done: the
    per-token mean energies (energy / n_tokens, the tokens the energy scored) and the command's
    sentences per second (model loading included)."""
    output = experiment.run / "scores" / f"{label}.jsonl"
    seconds_file = output.with_suffix(".seconds")
    if output.is_file() and seconds_file.is_file():
        experiment.say(f"[eval] scores {label}: done before, skipped")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        seconds = experiment.textebm(
            "score", "--model", str(model), "--energy", energy, "--device", "cpu",
            str(text), "-o", str(output),
        )  # fmt: skip
        seconds_file.write_text(f"{seconds:.3f}\n")
    records = [json.loads(line) for line in read_lines(output) if line.strip()]
    seconds = float(seconds_file.read_text())
    return {
        "per_token": [r["energy"] / max(1, r["n_tokens"]) for r in records],
        "sentences_per_second": len(records) / seconds,
    }


def spearman_table(scores: dict[str, list[float]]) -> tuple[dict, list[str]]:
    """Spearman correlation of per-token mean energies between every two scorers: a dict and
    markdown rows."""
    from textebm.eval.pairwise import spearman

    labels = list(scores)
    matrix = {a: {b: spearman(scores[a], scores[b]) for b in labels} for a in labels}
    rows = ["| per-token mean energy | " + " | ".join(labels) + " |"]
    rows.append("| --- " * (len(labels) + 1) + "|")
    for a in labels:
        rows.append(f"| {a} | " + " | ".join(f"{matrix[a][b]:.3f}" for b in labels) + " |")
    return matrix, rows


def accuracy_rows(accuracy: dict[str, dict], describe: Callable[[str], str]) -> list[str]:
    """Markdown rows: one per scorer, overall accuracy and per kind."""
    rows = ["| scorer | pairs | swap | replace | n pairs |", "| --- | --- | --- | --- | --- |"]
    for label, a in accuracy.items():
        rows.append(
            f"| {describe(label)} | {a['all']:.3f} | {a.get('swap', float('nan')):.3f} | "
            f"{a.get('replace', float('nan')):.3f} | {a['pairs']} |"
        )
    return rows
