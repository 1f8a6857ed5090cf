"""SequenceMatch on the arithmetic task (issue 13): MLE, MLE + <bkspc> noise, SequenceMatch-chi^2.

The paper's controlled task (Cundy & Ermon 2024): addition and subtraction in a small base, a few
thousand training problems, a held-out test set. This script drives the command line as a user
would:

1. writes the problems (`textebm.data.arithmetic`: train, validation and test share no question)
   and a word-level tokenizer (one token per digit and sign) into RUN/;
2. trains the MLE model from scratch with `textebm train clm` (one token stream of
   `bos question answer eos` lines: the standard way to train a causal LM; the question tokens
   are uniform and cost the model nothing but gradient noise);
3. for each noise level, fine-tunes that model with `textebm train sequencematch` twice, for the
   same number of steps on the same batches: BC only (`--bc-warmup-steps` = the step count, the
   paper's "MLE + <bkspc>", and at noise 0 simply more MLE on the answers) and SequenceMatch-chi^2
   (BC warm-up, then alpha * BC + (1 - alpha) * SM with model samples in a replay buffer);
4. scores every model by exact match on the held-out test problems (`eval.exact_match`: greedy,
   backspaces applied, eos required), with the backspaces used, and reads the training cost
   (data tokens per second of training) from each run's metrics.jsonl.

Every run has a fixed step count (no wall-time budget), so the results do not depend on how busy
the machine is; the tokens-per-second figures do, so the cost ratio compares SM with the BC run of
the same noise level, trained just before it on the same machine.

Everything printed is also written to OUT/arithmetic.log; the figures to OUT/arithmetic.json and
the table to OUT/arithmetic.md. A finished model folder (model.safetensors present) is reused,
so an interrupted run can be started again with the same command.

    python experiments/arithmetic/sequencematch_arithmetic.py [--run DIR] [--out DIR] ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cli_runs import (
    data_tokens_per_second,
    last_validation,
    load_average,
    read_metrics,
    say,
    textebm,
    write_log,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="experiments/arithmetic/runs/main")
    parser.add_argument("--out", default="experiments/arithmetic/results")
    parser.add_argument("--base", type=int, default=10)
    parser.add_argument("--digits", type=int, default=2, help="most digits of an operand")
    parser.add_argument("--train", type=int, default=5000, help="training problems (paper 5,000)")
    parser.add_argument("--test", type=int, default=200, help="held-out test problems (paper 200)")
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--noise", default="0,0.1,0.3", help="noise rates, comma-separated")
    parser.add_argument("--mle-steps", type=int, default=600)
    parser.add_argument("--mle-lr", type=float, default=3e-3)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--bc-warmup", type=int, default=40, help="SM runs: BC-only steps first")
    parser.add_argument("--bc-weight", type=float, default=0.5, help="alpha after the warm-up")
    parser.add_argument("--gamma", type=float, default=0.8, help="about 1 - 1/(answer actions)")
    parser.add_argument(
        "--square-weight",
        type=float,
        default=0.5,
        help="SM runs: w of E_data[r^2] + E_model[r^2] (the SM folders are named -wW unless 0.5)",
    )
    parser.add_argument("--sample-every", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from textebm.data.arithmetic import make_problems, read_problems, split_problems, write_problems
    from textebm.eval.exact_match import exact_match

    started = time.perf_counter()
    run, out = Path(args.run), Path(args.out)
    run.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    say(f"textebm SequenceMatch arithmetic; started {time.strftime('%F %T %Z')}")
    say(f"command: {' '.join(sys.argv)}")
    say(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, load average at start "
        f"{load_average()} (shared with other jobs: contended; fixed step counts throughout)"
    )

    # 1. problems and tokenizer
    total = args.train + args.validation + args.test
    problems = make_problems(total, base=args.base, max_digits=args.digits, seed=args.seed)
    rest, test = split_problems(problems, args.test)
    train, validation = rest[: -args.validation], rest[-args.validation :]
    held = {p.question for p in validation}
    train = [p for p in train if p.question not in held]
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        write_problems(run / f"{name}.tsv", part)
    say(
        f"data: base {args.base}, operands below {args.base}^{args.digits}; {len(train)} train, "
        f"{len(validation)} validation, {len(test)} test problems; e.g. "
        f"{train[0].question} {train[0].answer} / {train[1].question} {train[1].answer}"
    )
    tokenizer = run / "tokenizer"
    if not (tokenizer / "tokenizer.json").exists():
        textebm("train", "tokenizer", "--kind", "wordlevel", "--corpus", str(run / "train.tsv"),
                "--model-max-length", "32", "--output", str(tokenizer))  # fmt: skip

    def done(folder: Path) -> bool:
        return (folder / "model.safetensors").exists()

    seconds: dict[str, float] = {}
    data = ["--corpus", str(run / "train.tsv"), "--validation", str(run / "validation.tsv"),
            "--context-length", "32", "--dropout", "0.0", "--batch-size", str(args.batch_size),
            "--eval-every", "0", "--seed", str(args.seed)]  # fmt: skip

    # 2. MLE from scratch: GPT-2 shaped, layers x hidden, 4 heads
    mle = run / "mle"
    if done(mle):
        say(f"mle: reusing {mle}")
    else:
        seconds["mle"] = textebm(
            "train", "clm", *data, "--tokenizer", str(tokenizer),
            "--layers", str(args.layers), "--hidden-size", str(args.hidden), "--heads", "4",
            "--intermediate-size", str(4 * args.hidden), "--learning-rate", str(args.mle_lr),
            "--max-steps", str(args.mle_steps), "--checkpoint-every", str(args.mle_steps),
            "--log-every", "100", "--output", str(mle), "--overwrite",
        )  # fmt: skip

    # 3. per noise level: BC only, then SequenceMatch-chi^2, both from the MLE model
    steps = args.finetune_steps
    finetune = [*data, "--init-from", str(mle), "--learning-rate", str(args.finetune_lr),
                "--max-steps", str(steps), "--checkpoint-every", str(steps),
                "--log-every", str(args.sample_every), "--max-new-tokens", "16"]  # fmt: skip
    noises = [float(x) for x in args.noise.split(",")]
    models = {"mle": mle}
    for noise in noises:
        for method in ("bc", "sm"):
            name = f"{method}-noise{noise:g}"
            if method == "sm" and args.square_weight != 0.5:
                name += f"-w{args.square_weight:g}"
            folder = run / name
            models[name] = folder
            if done(folder):
                say(f"{name}: reusing {folder}")
                continue
            warmup = steps if method == "bc" else args.bc_warmup
            seconds[name] = textebm(
                "train", "sequencematch", *finetune, "--noise-rate", str(noise),
                "--bc-warmup-steps", str(warmup), "--bc-weight", str(args.bc_weight),
                "--gamma", str(args.gamma), "--sample-every", str(args.sample_every),
                "--square-weight", str(args.square_weight),
                "--output", str(folder), "--overwrite",
            )  # fmt: skip

    # 4. exact match on the held-out test problems, and the cost of training. Greedy decoding
    # bans a token where a backspace deleted it (exact_match's default): plain greedy decoding
    # loops on every backspace (a Markov policy returns to a state it leaves the same way), so
    # it is scored too, for the answers that never end.
    test_problems = read_problems(run / "test.tsv")
    results: dict[str, dict] = {}
    for name, folder in models.items():
        model = AutoModelForCausalLM.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        scored = exact_match(model, tok, test_problems, torch.Generator().manual_seed(args.seed))
        plain = exact_match(
            model, tok, test_problems, torch.Generator().manual_seed(args.seed), ban_deleted=False
        )
        records = read_metrics(folder)
        after = args.bc_warmup if name.startswith("sm-") else 0
        results[name] = {
            "exact_match": scored.accuracy,
            "right": sum(scored.right),
            "backspaces": sum(scored.backspaces),
            "answers_with_backspace": sum(b > 0 for b in scored.backspaces),
            "not_ended": sum(not e for e in scored.ended),
            "plain_greedy": {
                "exact_match": plain.accuracy,
                "backspaces": sum(plain.backspaces),
                "not_ended": sum(not e for e in plain.ended),
            },
            "tokens_per_second": data_tokens_per_second(records, after_step=after),
            "validation": last_validation(records),
            "seconds": seconds.get(name),
            "examples": [
                {"question": p.question, "answer": p.answer, "model": a}
                for p, a in zip(test_problems[:5], scored.answers[:5], strict=True)
            ],
        }
        say(
            f"{name}: exact match {scored.accuracy:.3f} ({sum(scored.right)}/{len(test_problems)}"
            f"), {sum(scored.backspaces)} backspaces in "
            f"{results[name]['answers_with_backspace']} answers, "
            f"{results[name]['not_ended']} not ended; plain greedy (deleted tokens not banned): "
            f"{plain.accuracy:.3f}, {sum(not e for e in plain.ended)} not ended; "
            f"{results[name]['tokens_per_second']:.0f} data tokens/s"
        )

    # the table
    rows = [
        "| noise | MLE (clm, no fine-tuning) | MLE + <bkspc> (BC only) | SequenceMatch-chi^2 "
        "| backspaces BC / SM | not ended BC / SM (plain greedy) "
        "| data tokens/s BC / SM | cost ratio SM/BC (s per token) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    suffix = f"-w{args.square_weight:g}" if args.square_weight != 0.5 else ""
    for noise in noises:
        bc, sm = results[f"bc-noise{noise:g}"], results[f"sm-noise{noise:g}{suffix}"]
        ratio = bc["tokens_per_second"] / sm["tokens_per_second"]
        rows.append(
            f"| {noise:g} | {results['mle']['exact_match']:.3f} | {bc['exact_match']:.3f} | "
            f"{sm['exact_match']:.3f} | {bc['backspaces']} / {sm['backspaces']} | "
            f"{bc['not_ended']} / {sm['not_ended']} ({bc['plain_greedy']['not_ended']} / "
            f"{sm['plain_greedy']['not_ended']}) | "
            f"{bc['tokens_per_second']:.0f} / {sm['tokens_per_second']:.0f} | {ratio:.2f} |"
        )
    wall = time.perf_counter() - started
    say("")
    say("\n".join(rows))
    say("")
    say(f"MLE (clm) training: {results['mle']['tokens_per_second']:.0f} tokens/s (all tokens)")
    say(f"wall time {wall:.0f} s; load average at end {load_average()}")
    summary = {
        "command": " ".join(sys.argv),
        "settings": vars(args),
        "problems": {"train": len(train), "validation": len(validation), "test": len(test)},
        "results": results,
        "wall_seconds": wall,
        "load_average_end": load_average(),
    }
    (out / "arithmetic.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "arithmetic.md").write_text("\n".join(rows) + "\n")
    write_log(out / "arithmetic.log")


if __name__ == "__main__":
    main()
