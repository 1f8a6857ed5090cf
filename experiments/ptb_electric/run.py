"""PTB, word level: Electric (two-tower cloze noise) against the PTB masked LM's pseudo-likelihood
(`norm`) and the PTB causal LM (`clm`): minimal pairs by kind, and the Spearman correlation of
per-token mean scores on the test set (issue 11's first experiment).

Parts (`--part`, repeatable; default all, in this order; a finished part is skipped):
  data            PTB's word-level tokenizer (as experiments/ptb), the minimal pairs from the test
                  sentences (`textebm.data.minimal_pairs`: adjacent swap; replacement by a word of
                  the same frequency bucket of the training counts, never `<unk>`), seeded
  train-noise     the two-tower cloze noise model (towers 1 x 64: a quarter of Electric's
                  transformer weights), `textebm train cloze`
  train-mlm       the PTB masked LM, experiments/ptb/train_mlm.sh's recipe (or --mlm DIR)
  train-electric  Electric 2 x 128 against the frozen noise, once per --noise-uniform value; from
                  scratch, or (--electric-init mlm) from the trained masked LM at LR 5e-4
  train-clm       the PTB causal LM, experiments/ptb/train_clm.sh's recipe (or --clm DIR)
  eval            `textebm eval pairs --group-field group` and `textebm score` on the test set
                  for every scorer; the tables

    python experiments/ptb_electric/run.py [--tiny] [--part P ...] [--noise-uniform 0.2 0.0]
        [--electric-init scratch|mlm]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/electric_parts.py

from electric_parts import (
    accuracy_rows,
    electric_label,
    eval_pairs,
    finished,
    load_average,
    score_file,
    spearman_table,
    start_experiment,
    write_pairs,
)

PARTS = ["data", "train-noise", "train-mlm", "train-electric", "train-clm", "eval"]
PTB = Path("/work/shared/data/ptb")

# experiments/ptb/train_mlm.sh's recipe (BERT 2 x 128, 20 minutes); Electric shares its shape and
# optimisation, so that the two differ in the objective only.
BODY_2X128 = ["--layers", "2", "--hidden-size", "128", "--heads", "2", "--intermediate-size", "512"]
MLM_OPTIMISATION = [
    "--context-length", "128", "--batch-size", "64", "--group-by-length", "--dropout", "0.1",
    "--weight-decay", "0.01", "--lr", "2e-3", "--warmup-fraction", "0.05", "--schedule", "linear",
    "--mixed-precision", "auto", "--max-steps", "1000000", "--eval-every", "2000",
    "--log-every", "100", "--checkpoint-every", "2000",
]  # fmt: skip
# experiments/ptb/train_clm.sh's recipe (GPT-2 4 x 256, compiled, 30 minutes).
CLM_RECIPE = [
    "--preset", "small", "--context-length", "128", "--batch-size", "16", "--dropout", "0.1",
    "--weight-decay", "0.1", "--lr", "3e-3", "--warmup-fraction", "0.03", "--schedule", "linear",
    "--mixed-precision", "auto", "--compile", "--max-steps", "100000", "--eval-every", "1000",
    "--log-every", "50", "--checkpoint-every", "1000",
]  # fmt: skip
# The noise: two towers of 1 x 64 (2 x 1 x 64^2 against Electric's 2 x 128^2 per weight matrix).
CLOZE_BODY = ["--layers", "1", "--hidden-size", "64", "--heads", "2", "--intermediate-size", "256"]
# Electric from the masked LM: a lower peak LR, so that fine-tuning keeps the context the masked
# LM learned (from scratch, Electric's encoder washed context out; see README, "Diagnosis").
FROM_MLM_LR = "5e-4"
# --tiny: every model 1 x 32, 30 steps (a smoke check of the wiring, not a result).
TINY_BODY = ["--layers", "1", "--hidden-size", "32", "--heads", "2", "--intermediate-size", "64"]
TINY_OPTIMISATION = [
    "--context-length", "128", "--batch-size", "32", "--group-by-length", "--dropout", "0.1",
    "--lr", "2e-3", "--max-steps", "30", "--eval-every", "0", "--log-every", "10",
    "--checkpoint-every", "30", "--mixed-precision", "no",
]  # fmt: skip


def describe(label: str) -> str:
    if label == "norm":
        return "masked LM 2x128, `norm` (PLL, n passes)"
    if label == "clm":
        return "causal LM 4x256, `clm` (1 pass)"
    u, _, start = label.removeprefix("electric-u").partition("-from-")
    origin = "from the masked LM, " if start else ""
    return f"Electric 2x128, {origin}`--noise-uniform {u}` (1 pass)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", action="append", default=[], choices=PARTS)
    parser.add_argument("--tiny", action="store_true", help="smoke check: minutes, not results")
    parser.add_argument("--run", help="models and data (default experiments/ptb_electric/runs/"
                        "full, or runs/tiny)")  # fmt: skip
    parser.add_argument("--out", help="results (default experiments/ptb_electric/results, "
                        "or results/tiny)")  # fmt: skip
    parser.add_argument("--noise-uniform", type=float, nargs="+", default=[0.2, 0.0],
                        help="one Electric model per value (default: 0.2 and 0.0)")  # fmt: skip
    parser.add_argument("--minutes-noise", type=float, default=20)
    parser.add_argument("--minutes-electric", type=float, default=60)
    parser.add_argument("--minutes-mlm", type=float, default=20)
    parser.add_argument("--minutes-clm", type=float, default=30)
    parser.add_argument("--mlm", help="an already trained PTB masked LM (skips train-mlm)")
    parser.add_argument("--clm", help="an already trained PTB causal LM (skips train-clm)")
    parser.add_argument("--pair-sentences", type=int, default=0,
                        help="build pairs from the first N test sentences (0 = all)")  # fmt: skip
    parser.add_argument("--electric-init", choices=["scratch", "mlm"], default="scratch",
                        help="train Electric from scratch, or from the trained masked LM (its "
                        "weights, at peak LR " + FROM_MLM_LR + ")")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    exp, _ = start_experiment("ptb_electric", args, PARTS)  # in the repository root
    run, out = exp.run, exp.out
    if args.tiny:
        exp.say("SMOKE CHECK (--tiny): tiny models, 30 steps each; the figures are not results")
    data, tokenizer = run / "data", run / "tokenizer"
    mlm = Path(args.mlm) if args.mlm else run / "mlm"
    clm = Path(args.clm) if args.clm else run / "clm"
    source = PTB if not args.tiny else data  # --tiny: the first lines only (written below)
    train_file = source / ("train.txt" if args.tiny else "ptb.train.txt.gz")
    valid_file = source / ("valid.txt" if args.tiny else "ptb.valid.txt")
    test_file = source / ("test.txt" if args.tiny else "ptb.test.txt")
    pairs_file = data / "pairs.jsonl"

    if exp.wants("data"):
        from textebm.data.files import atomic_write, read_lines
        from textebm.data.minimal_pairs import build_minimal_pairs, word_counts

        data.mkdir(parents=True, exist_ok=True)
        if args.tiny:
            firsts = {"train": 3000, "valid": 200, "test": 100}
            for name, n in firsts.items():
                full = PTB / f"ptb.{name}.txt{'.gz' if name == 'train' else ''}"
                with atomic_write(data / f"{name}.txt") as handle:
                    handle.writelines(line + "\n" for line in read_lines(full)[:n])
        if not (tokenizer / "tokenizer.json").is_file():
            exp.textebm("train", "tokenizer", "--corpus", str(train_file), "--kind", "wordlevel",
                        "--output", str(tokenizer))  # fmt: skip
        test = read_lines(test_file)
        if args.pair_sentences:
            test = test[: args.pair_sentences]
        pairs = build_minimal_pairs(test, word_counts(read_lines(train_file)), seed=args.seed)
        counts = write_pairs(pairs_file, pairs)
        exp.say(f"[data] {len(pairs)} pairs from {len(test)} test sentences: {counts}; e.g.")
        for pair in pairs[:2]:
            exp.say(f"  {pair['group']}: {pair['sentence_good']}  ->  {pair['sentence_bad']}")
        exp.record("pairs", {"sentences": len(test), "seed": args.seed, **counts})

    data_flags = ["--corpus", str(train_file), "--validation", str(valid_file),
                  "--tokenizer", str(tokenizer)]  # fmt: skip

    def electric(u: float) -> str:
        """The run subfolder and table label of the Electric model with --noise-uniform u."""
        return electric_label(u) + ("-from-mlm" if args.electric_init == "mlm" else "")

    budget = (lambda minutes: ["--time-budget", "1"]) if args.tiny else (
        lambda minutes: ["--time-budget", str(minutes)])  # fmt: skip

    def recipe(body: list[str]) -> list[str]:
        return [*TINY_BODY, *TINY_OPTIMISATION] if args.tiny else [*body, *MLM_OPTIMISATION]

    if exp.wants("train-noise"):
        exp.train("noise", run / "cloze", ["cloze", *data_flags, *recipe(CLOZE_BODY),
                  *budget(args.minutes_noise)])  # fmt: skip
    if exp.wants("train-mlm") and not args.mlm:
        extra = ["--pll-examples", "20" if args.tiny else "200"]
        exp.train("mlm", mlm, ["mlm", *data_flags, *recipe(BODY_2X128), *extra,
                  *budget(args.minutes_mlm)])  # fmt: skip
    if exp.wants("train-electric"):
        if not finished(run / "cloze"):
            raise SystemExit("train-electric needs the noise model: run --part train-noise first")
        start = []
        if args.electric_init == "mlm":
            if not finished(mlm):
                raise SystemExit("--electric-init mlm needs the masked LM: run --part train-mlm")
            start = ["--init-from", str(mlm), "--lr", FROM_MLM_LR]  # the later --lr wins
        for u in args.noise_uniform:
            exp.train(electric(u), run / electric(u), ["electric", *data_flags,
                      *recipe(BODY_2X128), *start, "--noise", str(run / "cloze"),
                      "--noise-uniform", str(u), *budget(args.minutes_electric)])  # fmt: skip
    if exp.wants("train-clm") and not args.clm:
        body = [*TINY_BODY, *TINY_OPTIMISATION] if args.tiny else CLM_RECIPE
        exp.train("clm", clm, ["clm", *data_flags, *body, *budget(args.minutes_clm)])

    if exp.wants("eval"):
        scorers = {"norm": ("norm", mlm)}
        if finished(clm):
            scorers["clm"] = ("clm", clm)
        else:
            exp.say(f"[eval] no causal LM in {clm}: its row is left out")
        for u in args.noise_uniform:
            scorers[electric(u)] = ("electric", run / electric(u))
        accuracy, per_token, speed = {}, {}, {}
        for label, (energy, model) in scorers.items():
            accuracy[label] = eval_pairs(exp, label, energy, model, pairs_file, "ptb-test")
            scored = score_file(exp, label, energy, model, test_file)
            per_token[label], speed[label] = scored["per_token"], scored["sentences_per_second"]
        matrix, spearman_rows = spearman_table(per_token)
        rows = accuracy_rows(accuracy, describe)
        rows[0] += " test sentences/s (`score`, load included) |"
        rows[1] += " --- |"
        for i, label in enumerate(scorers, start=2):
            rows[i] += f" {speed[label]:.1f} |"
        exp.record("accuracy", accuracy)
        exp.record("spearman_per_token_mean", matrix)
        exp.record("score_sentences_per_second", speed)
        table = ["Minimal pairs from PTB test sentences (accuracy: good has lower energy):", "",
                 *rows, "", f"Spearman of per-token mean energies on {len(per_token['norm'])} "
                 "PTB test sentences:", "", *spearman_rows]  # fmt: skip
        for u in args.noise_uniform:
            gap = 100 * (accuracy["norm"]["all"] - accuracy[electric(u)]["all"])
            table.append(f"\n{electric(u)}: {gap:+.1f} points behind PLL (goal: within 2)")
        exp.say("\n".join(table))
        smoke = "SMOKE CHECK, not results: every model 1 x 32, 30 steps, whatever its row says"
        heading = smoke + "\n\n" if args.tiny else ""
        (out / "ptb_electric.md").write_text(heading + "\n".join(table) + "\n")
    exp.say(f"== done {time.strftime('%F %T %Z')}; load average {load_average()}")


if __name__ == "__main__":
    main()
