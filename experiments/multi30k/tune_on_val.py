"""Choose MH's annealing on the VALIDATION set (val 2016, never the test set): decode its first N
lines with each setting and report BLEU, so that a setting for the test table is picked where
picking is allowed.

    python experiments/multi30k/tune_on_val.py --lines 200 --setting mh-raw-s4 --setting ...

Each setting is `textebm translate` with run.py's common decoding flags (length beam 3, batches of
25, seed 0) and the flags below; translations and records go to results/tune/NAME.{txt,jsonl},
skipped when complete; the table to results/tune/table.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import COMMON_DECODING, METHODS, MULTI30K, read_records  # noqa: E402

ANNEAL = ["--sampler", "mh", "--temperature"]
SETTINGS = {
    **{name: METHODS[name] for name in ("greedy", "mask-predict", "mh-raw", "mh-norm", "gibbs")},
    # raw energy: more sweeps, a colder start, a colder end
    "mh-raw-s10": [*ANNEAL, "1", "--anneal-to", "0.1", "--energy", "raw", "--sweeps", "10"],
    "mh-raw-t0.5": [*ANNEAL, "0.5", "--anneal-to", "0.05", "--energy", "raw", "--sweeps", "4"],
    "mh-raw-s10-t0.5": [*ANNEAL, "0.5", "--anneal-to", "0.01", "--energy", "raw", "--sweeps", "10"],
    "mh-raw-t0.25": [*ANNEAL, "0.25", "--anneal-to", "0.025", "--energy", "raw", "--sweeps", "4"],
    "mh-norm-t0.5": [*ANNEAL, "0.5", "--anneal-to", "0.05", "--energy", "norm", "--sweeps", "4"],
    "mh-norm-t0.25": [*ANNEAL, "0.25", "--anneal-to", "0.025", "--energy", "norm", "--sweeps", "4"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(HERE / "runs/full/cmlm"))
    parser.add_argument("--lines", type=int, default=200, help="the first N validation lines")
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS), default=[])
    parser.add_argument("--out", default=str(HERE / "results/tune"))
    args = parser.parse_args()
    from textebm.data.files import read_lines
    from textebm.eval.bleu import corpus_bleu

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source, reference = MULTI30K / "val.lc.norm.tok.de.gz", MULTI30K / "val.lc.norm.tok.en.gz"
    for name in args.setting:
        text, records = out / f"{name}.txt", out / f"{name}.jsonl"
        if text.is_file() and len(text.read_text().splitlines()) == args.lines:
            continue
        command = [sys.executable, "-m", "textebm", "translate", "--model", args.model,
                   *SETTINGS[name], *COMMON_DECODING, "--end-line", str(args.lines),
                   "-o", str(text), "--records", str(records), str(source)]  # fmt: skip
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True)
    references = read_lines(reference)[: args.lines]
    rows, figures = [], {}
    for name in SETTINGS:
        records_path = out / f"{name}.jsonl"
        if not records_path.is_file():
            continue
        records = read_records(records_path)
        if len(records) != args.lines:
            continue
        bleu = corpus_bleu([r["text"] for r in records], [references])
        seconds = sum(r["seconds"] for r in records) / len(records)
        passes = sum(r["passes"] for r in records) / len(records)
        figures[name] = {"flags": SETTINGS[name], "bleu": bleu.score, "seconds": seconds,
                         "passes": passes, "signature": bleu.signature}  # fmt: skip
        flags = " ".join(SETTINGS[name])
        rows.append(f"| {name} | `{flags}` | {bleu.score:.2f} | {seconds:.3f} | {passes:.1f} |")
    table = [f"Multi30k val (first {args.lines} lines), De-En; common flags "
             f"`{' '.join(COMMON_DECODING)}`", "",
             "| setting | flags | BLEU | wall s / sentence | passes / sentence |",
             "| --- | --- | --- | --- | --- |", *rows]  # fmt: skip
    print("\n".join(table))
    (out / "table.md").write_text("\n".join(table) + "\n")
    (out / "table.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
