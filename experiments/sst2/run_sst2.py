"""SST-2 with the MiniLM encoder: plain fine-tuning, label smoothing, temperature scaling and the
three joint-EBM energies (scalar, hidden, sharp-hidden) trained by NCE (issue 12), against noise
from a MiniLM-initialised masked LM that refills 40% of each sentence's tokens (the issue's simpler
noise; `--noise rewrite` uses the paper's rewrite LM, whose text was word salad at our budget).
Everything goes through the `textebm` command line, as a user would run it.

Parts, each resumable (a finished model, noise file or report is skipped; an interrupted training
run resumes from its last checkpoint), each writing `results/<part>.json`:

    --part noise    subsample the training set, train the noise model (mlm-fill: MiniLM + a fresh
                    MLM head on SST-2's training text; rewrite: a GPT-2 from scratch with the
                    encoder's tokenizer), generate the noise once (JSON Lines, cached)
    --part seed0    (seed1, seed2) the five classifiers of one seed, each evaluated twice with
                    `textebm eval calibration`: on test_labeled.tsv with the temperature fitted on
                    all of dev, and on dev's half-split (+ OOD AUROC: dev against PTB test)
    --part table    the table over the seeds present: mean and spread, goal check
    --part all      all of the above in order

Budgets are FIXED STEP COUNTS (not wall time), so results do not depend on machine load.
`--tiny` runs the same pipeline on a few rows and steps into runs-tiny/ and results-tiny/ (a check
that the script works end to end, minutes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sst2_table import VARIANTS, build_table, render

HERE = Path(__file__).resolve().parent


def shared_data() -> Path:
    """$TEXTEBM_DATA, else the first shared/data beside the repository or a folder above it
    (`../shared/data` in the project's layout; a worktree sits one level deeper)."""
    if os.environ.get("TEXTEBM_DATA"):
        return Path(os.environ["TEXTEBM_DATA"])
    for folder in HERE.parents[1].parents:
        if (folder / "shared" / "data" / "sst2").is_dir():
            return folder / "shared" / "data"
    raise SystemExit("shared/data not found: set TEXTEBM_DATA to the datasets folder")


DATA = shared_data()
WITHOUT_NCE = ("plain", "label-smoothing")  # trained alike whatever --nce-weight/--noise-ratio


def settings(tiny: bool) -> dict:
    """Sizes. The real ones are fitted to the 3-hour, 2-quiet-core budget (see README)."""
    if tiny:
        return dict(
            train_size=128,
            eval_rows=48,
            ood_rows=48,
            steps=3,
            noise_steps=3,
            noise_mlm_steps=3,
            batch=16,
            noise_batch=16,
            resamples=50,
            checkpoint_every=2,
        )
    return dict(
        train_size=9600,
        eval_rows=0,
        ood_rows=1821,
        steps=300,
        noise_steps=600,
        noise_mlm_steps=1500,
        batch=32,
        noise_batch=32,
        resamples=1000,
        checkpoint_every=100,
    )


class Runner:
    def __init__(self, tiny: bool, noise_method: str, options: argparse.Namespace) -> None:
        self.tiny = tiny
        self.s = settings(tiny)
        self.noise_method = noise_method
        suffix = "-tiny" if tiny else ""
        self.runs = HERE / f"runs{suffix}"
        self.results = HERE / f"results{suffix}"
        # A named variant trains its classifiers into runs/NAME and reports into results/NAME;
        # the data and the noise stay shared with the main table.
        self.steps = options.steps or self.s["steps"]
        self.precision = resolved_precision()
        self.nce = (str(options.nce_weight), str(options.noise_ratio))
        self.variants = options.variants
        self.classifiers = self.runs / options.name if options.name else self.runs
        if options.name:
            self.results = self.results / options.name
        self.runs.mkdir(exist_ok=True)
        self.results.mkdir(parents=True, exist_ok=True)
        self.data = self.runs / "data"
        self.noise_lm = self.runs / "noise-lm"
        self.noise_mlm = self.runs / "noise-mlm"
        self.noise = self.runs / f"noise-{noise_method}.jsonl"

    # -- helpers -------------------------------------------------------------------------------
    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def textebm(self, *args: str) -> float:
        """Run one `textebm` command (this checkout's code); return its wall seconds."""
        command = [sys.executable, "-m", "textebm.cli.main", *map(str, args)]
        self.log("$ textebm " + " ".join(shlex.quote(str(a)) for a in args))
        start = time.time()
        subprocess.run(command, check=True)
        seconds = time.time() - start
        self.log(f"  done in {seconds:.0f} s (load average {os.getloadavg()[0]:.1f})")
        return seconds

    def write_json(self, name: str, value: dict) -> None:
        path = self.results / name
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(value, indent=1) + "\n")
        temporary.replace(path)  # atomic: an interrupted part never leaves half a file

    def minilm(self) -> str:
        sys.path.insert(0, str(HERE.parents[1] / "src"))
        from textebm.models.minilm import minilm_path

        return minilm_path()

    # -- data ----------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """train.tsv: a seeded uniform subsample (without replacement, seed 0) of SST-2's 67,349
        training rows; dev/test as they are (cut in --tiny); ood.txt: PTB test's first lines."""
        self.data.mkdir(exist_ok=True)
        if (self.data / "ready").exists():
            return
        with gzip.open(DATA / "sst2" / "train.tsv.gz", "rt", encoding="utf-8") as handle:
            header, *rows = handle.read().splitlines()
        chosen = random.Random(0).sample(range(len(rows)), self.s["train_size"])
        self._write_rows("train.tsv", header, [rows[i] for i in sorted(chosen)])
        for name in ("dev.tsv", "test_labeled.tsv"):
            head, *lines = (DATA / "sst2" / name).read_text(encoding="utf-8").splitlines()
            self._write_rows(name, head, lines[: self.s["eval_rows"] or None])
        ptb = (DATA / "ptb" / "ptb.test.txt").read_text(encoding="utf-8").splitlines()
        ptb = [line.strip() for line in ptb if line.strip()][: self.s["ood_rows"]]
        (self.data / "ood.txt").write_text("\n".join(ptb) + "\n", encoding="utf-8")
        (self.data / "ready").write_text("ok\n")

    def _write_rows(self, name: str, header: str, rows: list[str]) -> None:
        (self.data / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    # -- parts ---------------------------------------------------------------------------------
    def part_noise(self) -> None:
        self.prepare_data()
        record: dict = {"settings": self.s, "method": self.noise_method}
        if self.noise_method == "rewrite":
            self.train_rewrite_lm(record)
            model = self.noise_lm
        else:
            self.train_fill_mlm(record)
            model = self.noise_mlm
        if not self.noise.exists():
            record["generate_seconds"] = self.textebm(
                "generate-noise",
                "--method",
                self.noise_method,
                "--model",
                model,
                "--train",
                self.data / "train.tsv",
                "--tokenizer",
                self.minilm(),
                "--ratio",
                "1",
                "--seed",
                "0",
                "--batch-size",
                "64",
                "-o",
                self.noise,
            )
        record["noise_model_validation"] = last_validation(model / "metrics.jsonl")
        lines = self.noise.read_text(encoding="utf-8").splitlines()
        record["noise_texts"] = len(lines) - 1
        record["noise_examples"] = [json.loads(line) for line in lines[1:11]]
        self.update(f"noise-{self.noise_method}.json", record)

    def train_fill_mlm(self, record: dict) -> None:
        """The issue's simpler noise: a masked LM refills 40% of each sentence's tokens. No
        pretrained MLM head exists offline, so MiniLM's encoder gets a fresh one, trained on the
        text (no labels) of all 67,349 SST-2 training sentences."""
        done = self.noise_mlm / "done"
        if done.exists():
            return
        corpus = self.data / "train.tsv" if self.tiny else DATA / "sst2" / "train.tsv.gz"
        record["noise_model_seconds"] = self.textebm(
            "train",
            "mlm",
            "--corpus",
            corpus,
            "--text-column",
            "sentence",
            "--validation",
            self.data / "dev.tsv",
            "--init-from",
            self.minilm(),
            "--context-length",
            "64",
            "--group-by-length",
            "--max-steps",
            self.s["noise_mlm_steps"],
            "--batch-size",
            self.s["noise_batch"],
            "--learning-rate",
            "2e-4",
            "--warmup-fraction",
            "0.05",
            "--eval-every",
            "500",
            "--checkpoint-every",
            "500",
            "--seed",
            "0",
            "--output",
            self.noise_mlm,
        )
        done.write_text("ok\n")

    def train_rewrite_lm(self, record: dict) -> None:
        """The paper's noise: GPT-2 2 x 256 from scratch on the training subsample, with MiniLM's
        WordPiece tokenizer (mask token for the prompts), rewriting masked text in full."""
        done = self.noise_lm / "done"
        if done.exists():
            return
        record["noise_model_seconds"] = self.textebm(
            "train",
            "noise-lm",
            "--corpus",
            self.data / "train.tsv",
            "--text-column",
            "sentence",
            "--validation",
            self.data / "dev.tsv",
            "--tokenizer",
            self.minilm(),
            "--layers",
            "2",
            "--hidden-size",
            "256",
            "--heads",
            "4",
            "--intermediate-size",
            "1024",
            "--context-length",
            "128",
            "--group-by-length",
            "--max-steps",
            self.s["noise_steps"],
            "--batch-size",
            self.s["noise_batch"],
            "--lr",
            "1e-3",
            "--warmup-fraction",
            "0.05",
            "--eval-every",
            "0",
            "--checkpoint-every",
            self.s["checkpoint_every"],
            "--seed",
            "0",
            "--output",
            self.noise_lm,
        )
        done.write_text("ok\n")

    def part_seed(self, seed: int) -> None:
        if not self.noise.exists():
            raise SystemExit(f"{self.noise} is missing: run --part noise first")
        s, minilm = self.s, self.minilm()
        common = [
            "train",
            "classifier",
            "--model",
            minilm,
            "--train",
            self.data / "train.tsv",
            "--context-length",
            "128",
            "--group-by-length",
            "--max-steps",
            self.steps,
            "--batch-size",
            s["batch"],
            "--lr",
            "5e-5",
            "--warmup-fraction",
            "0.1",
            "--weight-decay",
            "0.1",
            "--eval-every",
            "0",
            "--checkpoint-every",
            s["checkpoint_every"],
            "--log-every",
            "10",
            "--seed",
            seed,
        ]
        extra = {
            "plain": [],
            "label-smoothing": ["--label-smoothing", "0.1"],
            **{
                energy: [
                    "--energy",
                    energy,
                    "--noise-file",
                    self.noise,
                    "--noise-ratio",
                    self.nce[1],
                    "--nce-weight",
                    self.nce[0],
                ]
                for energy in ("scalar", "hidden", "sharp-hidden")
            },
        }
        record = {
            "seed": seed,
            "settings": {**s, "steps": self.steps, "mixed_precision": self.precision},
            "nce_weight": float(self.nce[0]),
            "noise_ratio": int(self.nce[1]),
            "noise": self.noise_method,
            "models": {},
        }
        # runs/ (models) is not committed; results/ is: a model whose reports are recorded is
        # not retrained just to be evaluated again, and a run of other variants keeps them
        record["models"] = self.recorded_models(f"seed{seed}.json", record)
        for variant in self.variants:
            if variant in record["models"]:
                self.log(f"seed {seed} {variant}: reports already recorded, kept")
                continue
            if entry := self.recorded_elsewhere(variant, record):
                record["models"][variant] = entry
                self.update(f"seed{seed}.json", record)
                self.log(f"seed {seed} {variant}: reports reused from {entry['reused_from']}")
                continue
            folder = self.classifiers / f"seed{seed}" / variant
            entry: dict = {"folder": str(folder.relative_to(HERE))}
            if not (folder / "done").exists():
                entry["train_seconds"] = self.textebm(*common, *extra[variant], "--output", folder)
                (folder / "done").write_text("ok\n")
            entry["last_train_log"] = last_line(folder / "metrics.jsonl")
            reports = self.results / f"seed{seed}" / variant
            for protocol, args in (
                (
                    "test",
                    [
                        "--data",
                        self.data / "test_labeled.tsv",
                        "--fit",
                        self.data / "dev.tsv",
                    ],
                ),
                # OOD AUROC: all of SST-2 dev (in distribution) against PTB test sentences
                ("dev-half", ["--data", self.data / "dev.tsv", "--ood", self.data / "ood.txt"]),
            ):
                out = reports / protocol
                if not (out / "summary.json").exists():
                    out.parent.mkdir(parents=True, exist_ok=True)  # eval makes only the last
                    self.textebm(
                        "eval",
                        "calibration",
                        "--model",
                        folder,
                        *args,
                        "--resamples",
                        s["resamples"],
                        "--seed",
                        "0",
                        "-o",
                        out,
                    )
                entry[protocol] = json.loads((out / "summary.json").read_text())
            record["models"][variant] = entry
            self.update(f"seed{seed}.json", record)

    def recorded_models(self, name: str, record: dict) -> dict[str, dict]:
        """The models of results/NAME trained with RECORD's settings whose two reports exist."""
        path = self.results / name
        if not path.exists():
            return {}
        previous = json.loads(path.read_text())
        same = ("seed", "nce_weight", "noise_ratio")
        if (
            any(previous.get(key) != record[key] for key in same)
            or settings_of(previous) != record["settings"]
            or previous.get("noise", "mlm-fill") != record["noise"]  # records before it: mlm-fill
        ):
            return {}
        seed_reports = self.results / f"seed{record['seed']}"
        return {
            variant: entry
            for variant, entry in previous.get("models", {}).items()
            if all(
                (seed_reports / variant / protocol / "summary.json").exists()
                for protocol in ("test", "dev-half")
            )
        }

    def recorded_elsewhere(self, variant: str, record: dict) -> dict | None:
        """VARIANT's entry, its reports copied here, from another table's record of the same seed
        and settings. Only for variants without NCE: lambda and K do not change their training,
        which is seeded, so retraining would repeat the same recipe (on another CPU, floating-point
        differences may still move it slightly: the entry says where it came from)."""
        if variant not in WITHOUT_NCE:
            return None
        top = HERE / ("results-tiny" if self.tiny else "results")
        name = f"seed{record['seed']}.json"
        for path in sorted([top / name, *top.glob(f"*/{name}")]):
            if path.parent == self.results or not path.exists():
                continue
            previous = json.loads(path.read_text())
            entry = previous.get("models", {}).get(variant)
            if entry is None or settings_of(previous) != record["settings"]:
                continue
            source = path.parent / f"seed{record['seed']}" / variant
            if not all((source / p / "summary.json").exists() for p in ("test", "dev-half")):
                continue
            shutil.copytree(
                source, self.results / f"seed{record['seed']}" / variant, dirs_exist_ok=True
            )
            return {**entry, "reused_from": str(path.relative_to(HERE))}
        return None

    def update(self, name: str, record: dict) -> None:
        record["machine"] = {
            "load_average_now": os.getloadavg(),
            "cpus": os.cpu_count(),
            "note": "shared machine: ~8 engineers' jobs contend for 2 cores",
        }
        self.write_json(name, record)

    def part_table(self) -> None:
        seeds = sorted(self.results.glob("seed[0-9].json"))
        if not seeds:
            raise SystemExit("no seed results yet")
        table = build_table([json.loads(p.read_text()) for p in seeds])
        self.write_json("table.json", table)
        (self.results / "table.md").write_text(render(table), encoding="utf-8")
        print(render(table))


def resolved_precision() -> str:
    """What `--mixed-precision auto` (the classifier's default) trains in on this machine."""
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    from textebm.hardware import auto_mixed_precision

    return auto_mixed_precision()


def settings_of(record: dict) -> dict:
    """A seed record's settings; records from before the precision was recorded trained in fp32
    (the machines of sessions 1-8 had no AMX, so `auto` meant fp32 there)."""
    return {"mixed_precision": "no", **record.get("settings", {})}


def last_line(path: Path) -> dict:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def last_validation(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    found = [r for r in rows if r.get("split") == "validation"]
    return found[-1] if found else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", required=True, help="noise, seed0, seed1, seed2, table, or all")
    parser.add_argument("--tiny", action="store_true", help="a minutes-long end-to-end check")
    parser.add_argument(
        "--noise",
        choices=("mlm-fill", "rewrite"),
        default="mlm-fill",
        help="mlm-fill (default): a MiniLM-initialised masked LM refills 40%% of the tokens; "
        "rewrite: the paper's rewrite LM from scratch (its text was word salad at 600 steps)",
    )
    parser.add_argument(
        "--name",
        help="a variant of the main table: its classifiers go to runs/NAME, its "
        "reports and table to results/NAME (data and noise shared)",
    )
    parser.add_argument("--steps", type=int, help="classifier steps (default 300: 1 epoch)")
    parser.add_argument("--nce-weight", type=float, default=1.0, help="lambda (default 1)")
    parser.add_argument("--noise-ratio", type=int, default=1, help="K (default 1)")
    parser.add_argument(
        "--variants",
        type=lambda text: text.split(","),
        default=list(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (plain is required)",
    )
    args = parser.parse_args()
    if "plain" not in args.variants or set(args.variants) - set(VARIANTS):
        parser.error(f"--variants: a subset of {','.join(VARIANTS)} that includes plain")
    if (args.steps or args.nce_weight != 1 or args.noise_ratio != 1) and not args.name:
        parser.error(
            "--steps, --nce-weight and --noise-ratio need --name (the main table's "
            "settings are fixed)"
        )
    os.environ.setdefault("CI", "1")  # no progress bars in the logs
    runner = Runner(args.tiny, args.noise, args)
    seeds = (0,) if args.tiny else (0, 1, 2)
    parts = ["noise", *[f"seed{s}" for s in seeds], "table"] if args.part == "all" else [args.part]
    for part in parts:
        runner.log(f"part {part} starts ({'tiny' if args.tiny else 'real'} settings)")
        start = time.time()
        if part == "noise":
            runner.part_noise()
        elif part.startswith("seed") and part[4:].isdigit():
            runner.part_seed(int(part[4:]))
        elif part == "table":
            runner.part_table()
        else:
            raise SystemExit(f"unknown part {part!r}")
        runner.log(f"part {part} finished in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
