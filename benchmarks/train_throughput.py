"""Training throughput: the textebm MLM and CLM recipes vs a plain `transformers.Trainer`.

    . .venv/bin/activate
    python benchmarks/train_throughput.py [--results benchmarks/RESULTS-train.md]

Both sides train the same model (built by the recipe's own `build_model` from the same preset and
seed) on the same examples (the recipe's own `examples`: PTB training lines as `[CLS] line [SEP]`
for the MLM, the PTB token stream cut into blocks for the CLM) with the same batch size, learning
rate, schedule, weight decay, gradient clipping and fused AdamW, in fp32 on the CPU:

  recipe   textebm.recipes.{mlm,clm}.train_{mlm,clm}: no evaluation, a checkpoint only at the end;
  trainer  transformers.Trainer with DataCollatorForLanguageModeling(mlm_probability=0.15) for the
           MLM and the blocks as they are (labels = inputs) for the CLM; no logging, evaluation or
           saving.

Throughput is real (non-padding) tokens through the model per second of training, over the steps
after --warmup, measured identically on both sides by a forward pre-hook on the model (`StepMeter`):
a step runs from one forward to the next (data, forward, backward, optimizer, bookkeeping). Both
wall-clock and process CPU time are reported: on a shared machine CPU time is the steadier
measure, since other work steals wall time from whichever side is running. Each run is a fresh
process with the same thread count; the two sides alternate (--repeats rounds) and the median of
each is compared. Before each run the script waits (up to --max-wait seconds) for the 1-minute
load average to fall below --max-load.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_report

PTB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ptb" / "ptb.train.txt.gz"


def settings(args: argparse.Namespace, objective: str, tokenizer: str, output: str):
    from textebm.recipes.config import ClmConfig, MlmConfig

    cls = MlmConfig if objective == "mlm" else ClmConfig
    extra = {"pll_examples": 0} if objective == "mlm" else {}
    return cls(
        corpus=str(args.corpus),
        tokenizer=tokenizer,
        output=output,
        preset=args.preset,
        batch_size=args.batch_size,
        context_length=args.context_length,
        max_steps=args.warmup + args.steps,
        log_every=1,
        eval_every=0,
        checkpoint_every=0,
        seed=0,
        overwrite=True,
        **extra,
    )


class StepMeter:
    """Forward pre-hook: the wall and CPU clocks and the real tokens at each step's forward.

    One forward per step on both sides, so the time between two forwards is one whole step (data,
    forward, backward, optimizer, bookkeeping), measured the same way for the recipe and Trainer.
    """

    def __init__(self) -> None:
        self.marks: list[tuple[float, float, int]] = []

    def __call__(self, module, positional, kwargs) -> None:
        mask = kwargs.get("attention_mask")
        tokens = int(mask.sum()) if mask is not None else kwargs["input_ids"].numel()
        self.marks.append((time.perf_counter(), time.process_time(), tokens))

    def attach(self, model):
        model.register_forward_pre_hook(self, with_kwargs=True)
        return model

    def steps(self) -> list[tuple[int, float, float]]:
        """(tokens, wall seconds, CPU seconds) of every step but the last."""
        return [
            (t, w1 - w0, c1 - c0) for (w0, c0, t), (w1, c1, _) in itertools.pairwise(self.marks)
        ]


def run_recipe(args: argparse.Namespace, config, meter: StepMeter) -> None:
    """A recipe run, its model metered."""
    from textebm.recipes.clm import CausalLM
    from textebm.recipes.loop import train
    from textebm.recipes.mlm import MaskedLM

    objective = MaskedLM(config) if args.objective == "mlm" else CausalLM()
    build = objective.build_model
    objective.build_model = lambda config, tokenizer: meter.attach(build(config, tokenizer))
    train(config, objective)


def run_trainer(args: argparse.Namespace, config, meter: StepMeter) -> None:
    """A plain Trainer run on the recipe's model and data, its model metered."""
    import torch
    from transformers import (
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    from textebm.data.corpus import read_corpus
    from textebm.data.tokenizers import load_tokenizer_folder
    from textebm.recipes.clm import CausalLM
    from textebm.recipes.mlm import MaskedLM

    tokenizer = load_tokenizer_folder(config.tokenizer)
    objective = MaskedLM(config) if args.objective == "mlm" else CausalLM()
    objective.check_tokenizer(tokenizer)
    examples = objective.examples(read_corpus(config.corpus), tokenizer, config, train=True)
    torch.manual_seed(config.seed)
    model = meter.attach(objective.build_model(config, tokenizer))
    if args.objective == "mlm":
        dataset = [{"input_ids": ids} for ids in examples]
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    else:
        dataset = [{"input_ids": ids, "labels": ids} for ids in examples.input_ids]
        collator = default_data_collator
    training_args = TrainingArguments(
        output_dir=config.output,
        per_device_train_batch_size=config.batch_size,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_scheduler_type="linear",
        warmup_steps=int(config.warmup_fraction * config.max_steps),
        max_grad_norm=config.max_grad_norm,
        optim="adamw_torch_fused",
        use_cpu=True,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=True,
        seed=config.seed,
    )
    Trainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator).train()


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    meter = StepMeter()
    with tempfile.TemporaryDirectory() as folder:
        config = settings(args, args.objective, args.tokenizer, folder)
        (run_recipe if args.worker == "recipe" else run_trainer)(args, config, meter)
    timed = meter.steps()[args.warmup :]
    tokens = sum(t for t, _, _ in timed)
    wall, cpu = sum(w for _, w, _ in timed), sum(c for _, _, c in timed)
    print(json.dumps({"tokens": tokens, "wall": wall, "cpu": cpu, "steps": len(timed)}))


def load_average() -> float:
    return os.getloadavg()[0]


def spawn(args: argparse.Namespace, side: str, objective: str, tokenizer: str) -> dict:
    deadline = time.time() + args.max_wait
    while load_average() > args.max_load and time.time() < deadline:
        time.sleep(5)
    load = load_average()
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--objective",
        objective,
        "--tokenizer",
        tokenizer,
        *args.forward,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CI": "1"})
    if result.returncode:
        sys.exit(f"{side} {objective} failed:\n{result.stderr[-3000:]}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["load_before"] = load
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=PTB.resolve())
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per run first")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side and objective")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--max-wait", type=float, default=120.0)
    parser.add_argument("--results", type=Path, help="also write the report to this markdown file")
    parser.add_argument("--worker", choices=["recipe", "trainer"], help=argparse.SUPPRESS)
    parser.add_argument("--objective", choices=["mlm", "clm"], help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    forwarded = ("corpus", "preset", "batch_size", "context_length", "steps", "warmup", "threads")
    args.forward = [
        item
        for name in forwarded
        for item in (f"--{name.replace('_', '-')}", str(getattr(args, name)))
    ]

    from textebm.data.corpus import lines_of, read_corpus
    from textebm.data.tokenizers import train_tokenizer

    report = [
        f"corpus {args.corpus.name}, word-level tokenizer, preset {args.preset}, batch "
        f"{args.batch_size}, context {args.context_length}, {args.threads} threads, "
        f"{args.steps} timed steps after {args.warmup}, median of {args.repeats} runs a side",
        "",
        "| objective | recipe tokens/s | Trainer tokens/s | ratio | recipe tokens/CPU-s "
        "| Trainer tokens/CPU-s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    loads: list[float] = []
    runs: list[str] = []  # one line per run, in the order run
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = train_tokenizer(lines_of(read_corpus(args.corpus)), kind="wordlevel")
        tokenizer.save_pretrained(folder)
        for objective in ("mlm", "clm"):
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeats):
                for side in ("recipe", "trainer"):
                    record = spawn(args, side, objective, folder)
                    loads.append(record["load_before"])
                    for clock in ("wall", "cpu"):
                        rate = record["tokens"] / record[clock]
                        rates.setdefault((side, clock), []).append(rate)
                    tokens = record["tokens"]
                    runs.append(
                        f"    {objective} {side}: {tokens / record['wall']:,.0f} tokens/s, "
                        f"{tokens / record['cpu']:,.0f} tokens/CPU-s "
                        f"(load before {record['load_before']:.2f})"
                    )
                    print(runs[-1], flush=True)
            cells = []
            for clock in ("wall", "cpu"):
                recipe = statistics.median(rates[("recipe", clock)])
                trainer = statistics.median(rates[("trainer", clock)])
                cells += [f"{recipe:,.0f}", f"{trainer:,.0f}", f"{recipe / trainer:.2f}x"]
            report.append(f"| {objective} | " + " | ".join(cells) + " |")
    report += [
        "",
        f"1-minute load average before each run: {min(loads):.2f} to {max(loads):.2f} "
        f"on {os.cpu_count()} CPUs (other work on the machine). Runs in order:",
        "",
        *runs,
    ]
    text = "\n".join(report)
    print(text)
    if args.results:
        title = "Training throughput: textebm recipes vs transformers.Trainer"
        write_report(args.results, title, text)


if __name__ == "__main__":
    main()
