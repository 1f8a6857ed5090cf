"""Electric against pseudo-log-likelihood on the embedded language (issue 11), end to end.

Every sentence of textebm's embedded grammar has an exact probability, and the grammar says which
same-length corruptions are ungrammatical, so minimal pairs have known answers. This script:

1. generates the demo's corpus (`textebm.demo.run.make_data`: training, validation, held-out test
   sentences never seen in training) and the demo's word-level tokenizer into RUN/;
2. trains, with `textebm train ...` on the same text and tokenizer, each with a step cap and a
   `--time-budget`: the demo's masked LM (2 x 64), a causal LM of the same shape (`train clm`), a
   two-tower cloze noise model (`train cloze`, towers 1 x 32: about a quarter of Electric's
   transformer weights) and Electric (`train electric --noise RUN/cloze`, 2 x 64);
3. builds held-out minimal pairs like the demo's (a grammatical test sentence against a same-length
   corruption the grammar rejects), one `swap` and one `replace` corruption per test sentence, as
   groups, and runs `textebm eval pairs` with --energy norm, raw (masked LM), clm and electric;
4. scores the held-out grammatical sentences with each energy in-process (`build_energy`,
   `score_texts`) for the Spearman correlation of -E (total, and per scored token) with the
   grammar's exact log-probability, and the scoring speed: sentences/s and model sequences per
   sentence from each energy's `cost`.

Everything printed is also written to OUT/electric_vs_pll.log; the figures to
OUT/electric_vs_pll.json and the table to OUT/electric_vs_pll.md.

    python experiments/grammar/electric_vs_pll.py [--run experiments/grammar/runs/electric-vs-pll]
        [--out experiments/grammar/results] [--minutes-mlm 2.5 ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/cli_runs.py
from cli_runs import last_validation, load_average, read_metrics, say, textebm, write_log


def corrupt_kind(grammar, sentence: str, rng: random.Random, kind: str) -> str | None:
    """A same-length corruption the grammar rejects, by one `swap` or one `replace` only.

    The demo's `Grammar.corrupt` draws the kind at random; this keeps its rules (the final "."
    stays, and is never a replacement; random edits first, then every edit in random order) but
    fixes the kind, so that each test sentence gives one pair of each. None if no edit of that
    kind is ungrammatical.
    """
    words = sentence.split(" ")
    n = len(words) - (words[-1] == ".")
    vocab = [w for w in grammar.vocabulary() if w != "."]

    def edited(edit) -> list[str]:
        i, j, word = edit
        out = words.copy()
        if j is not None:
            out[i], out[j] = out[j], out[i]
        else:
            out[i] = word
        return out

    def ok(candidate: list[str]) -> bool:
        return candidate != words and not grammar.is_grammatical(" ".join(candidate))

    if kind == "swap":
        if n < 2:
            return None
        edits = [(i, j, None) for i, j in itertools.combinations(range(n), 2)]
    else:
        edits = [(i, None, w) for i in range(n) for w in vocab]
    for _ in range(100):
        if ok(candidate := edited(rng.choice(edits))):
            return " ".join(candidate)
    rng.shuffle(edits)
    for edit in edits:
        if ok(candidate := edited(edit)):
            return " ".join(candidate)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="experiments/grammar/runs/electric-vs-pll")
    parser.add_argument("--out", default="experiments/grammar/results")
    parser.add_argument("--test-sentences", type=int, default=500)
    parser.add_argument("--max-steps", type=int, default=1500, help="cap for every model")
    parser.add_argument("--minutes-mlm", type=float, default=2.5)
    parser.add_argument("--minutes-clm", type=float, default=1.5)
    parser.add_argument("--minutes-cloze", type=float, default=1.5)
    parser.add_argument("--minutes-electric", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from textebm.data.grammar import default_grammar
    from textebm.data.tokenizers import train_tokenizer
    from textebm.demo.run import DemoConfig, make_data
    from textebm.energies.registry import build_energy
    from textebm.eval.pairwise import spearman

    started = time.perf_counter()
    run, out = Path(args.run), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"textebm electric vs PLL on the embedded language; started {time.strftime('%F %T %Z')}")
    say(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} "
        f"threads, load average at start {load_average()} (shared with other jobs: contended)"
    )

    # 1. the demo's data and tokenizer
    grammar = default_grammar()
    demo = DemoConfig(output=str(run), test_pairs=args.test_sentences, seed=args.seed)
    data = make_data(demo, run / "data")
    say(
        f"data: {len(data['train'])} training, {len(data['validation'])} validation, "
        f"{len(data['test'])} held-out test sentences; {len(grammar.vocabulary())} words, mean "
        f"length {grammar.mean_length():.2f}, entropy {grammar.entropy():.2f} nats"
    )
    tokenizer = run / "tokenizer"
    if not (tokenizer / "tokenizer.json").exists():
        train_tokenizer(data["train"], kind="wordlevel", model_max_length=32).save_pretrained(
            tokenizer
        )

    # 2. the four models, same text, same tokenizer, the demo's optimisation settings
    common = [
        "--corpus", str(run / "data" / "train.txt"),
        "--validation", str(run / "data" / "validation.txt"),
        "--tokenizer", str(tokenizer),
        "--context-length", "32",
        "--dropout", "0.0",
        "--batch-size", "64",
        "--learning-rate", "2e-3",
        "--max-steps", str(args.max_steps),
        "--eval-every", "0",
        "--checkpoint-every", str(args.max_steps),
        "--seed", str(args.seed),
    ]  # fmt: skip
    tiny = ["--preset", "tiny"]  # 2 layers x 64, 2 heads, feed-forward 256
    quarter = ["--layers", "1", "--hidden-size", "32", "--heads", "1", "--intermediate-size", "128"]
    train_seconds = {
        "mlm": textebm("train", "mlm", *common, *tiny, "--pll-examples", "300",
                       "--time-budget", str(args.minutes_mlm), "--output", str(run / "mlm")),
        "clm": textebm("train", "clm", *common, *tiny,
                       "--time-budget", str(args.minutes_clm), "--output", str(run / "clm")),
        "cloze": textebm("train", "cloze", *common, *quarter,
                         "--time-budget", str(args.minutes_cloze), "--output", str(run / "cloze")),
        "electric": textebm("train", "electric", *common, *tiny, "--noise", str(run / "cloze"),
                            "--time-budget", str(args.minutes_electric),
                            "--output", str(run / "electric")),
    }  # fmt: skip
    training = {}
    for name in train_seconds:
        records = read_metrics(run / name)
        steps = max((r.get("step", 0) for r in records), default=0)
        last = last_validation(records)
        training[name] = {
            "steps": steps,
            "seconds": train_seconds[name],
            "validation": {k: v for k, v in last.items() if isinstance(v, (int, float))},
        }
        say(f"{name}: {steps} steps in {train_seconds[name]:.0f} s; last validation {last}")

    # 3. held-out minimal pairs, one swap and one replace per test sentence, through eval pairs
    rng = random.Random(args.seed)
    pairs = []
    for sentence in data["test"]:
        for kind in ("swap", "replace"):
            bad = corrupt_kind(grammar, sentence, rng, kind)
            if bad is not None:
                pairs.append({"sentence_good": sentence, "sentence_bad": bad, "group": kind})
    pairs_file = run / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    counts = {k: sum(p["group"] == k for p in pairs) for k in ("swap", "replace")}
    say(f"pairs: {len(pairs)} held-out ({counts}); e.g. {pairs[0]} / {pairs[1]}")
    energies = {"norm": "mlm", "raw": "mlm", "clm": "clm", "electric": "electric"}
    accuracy, eval_seconds = {}, {}
    for energy, model in energies.items():
        report = run / "pairs" / energy
        report.parent.mkdir(parents=True, exist_ok=True)
        eval_seconds[energy] = textebm(
            "eval", "pairs", "--model", str(run / model), "--energy", energy,
            "--group-field", "group", "--device", "cpu", str(pairs_file),
            "-o", str(report),
        )  # fmt: skip
        summary = json.loads((report / "summary.json").read_text())
        accuracy[energy] = summary
        say(
            f"  {energy}: accuracy {summary['accuracy']:.3f}; "
            + ", ".join(f"{g} {v['accuracy']:.3f}" for g, v in summary["groups"].items())
        )

    # 4. rank correlation with the exact log-probability, and scoring speed
    test = data["test"]
    log_probs = [grammar.log_prob(s) for s in test]
    correlation, speed = {}, {}
    for energy, model in energies.items():
        scorer = build_energy(energy, str(run / model), device="cpu")
        scorer.score_texts(test[:16])  # warm-up, not timed
        before = scorer.cost.snapshot()
        t0 = time.perf_counter()
        scored = scorer.score_texts(test)
        seconds = time.perf_counter() - t0
        cost = scorer.cost.snapshot() - before
        totals = [-s.energy for s in scored]
        means = [-s.energy / max(1, len(s.tokens)) for s in scored]
        correlation[energy] = {
            "spearman_total": spearman(totals, log_probs),
            "spearman_per_token_mean": spearman(means, log_probs),
        }
        speed[energy] = {
            "sentences_per_second": len(test) / seconds,
            "sequences_per_sentence": cost.sequences / len(test),
            "calls": cost.calls,
            "seconds": seconds,
        }
        say(
            f"  {energy}: Spearman(-E total, log p) {correlation[energy]['spearman_total']:.3f}, "
            f"(-E per token) {correlation[energy]['spearman_per_token_mean']:.3f}; "
            f"{speed[energy]['sentences_per_second']:.0f} sentences/s, "
            f"{speed[energy]['sequences_per_sentence']:.2f} sequences/sentence"
        )

    # the table
    label = {
        "norm": "masked LM, `norm` (PLL, n passes)",
        "raw": "masked LM, `raw` (n passes)",
        "clm": "causal LM, `clm` (1 pass)",
        "electric": "Electric, `electric` (1 pass)",
    }
    rows = [
        "| energy | pairs | swap | replace | Spearman -E total | Spearman -E per token "
        "| sentences/s | sequences/sentence |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for energy in energies:
        s, c, v = accuracy[energy], correlation[energy], speed[energy]
        rows.append(
            f"| {label[energy]} | {s['accuracy']:.3f} | {s['groups']['swap']['accuracy']:.3f} | "
            f"{s['groups']['replace']['accuracy']:.3f} | {c['spearman_total']:.3f} | "
            f"{c['spearman_per_token_mean']:.3f} | {v['sentences_per_second']:.0f} | "
            f"{v['sequences_per_sentence']:.2f} |"
        )
    gap = 100 * (accuracy["norm"]["accuracy"] - accuracy["electric"]["accuracy"])
    total = time.perf_counter() - started
    say("")
    say("\n".join(rows))
    say("")
    say(
        f"Electric vs PLL (norm) pair accuracy: {gap:+.1f} points behind "
        f"(goal: within 2) -> {'met' if gap <= 2 else 'not met'}"
    )
    say(
        f"wall time {total:.0f} s (training {sum(train_seconds.values()):.0f} s); "
        f"load average at end {load_average()}"
    )

    results = {
        "command": " ".join(sys.argv),
        "pairs": {"total": len(pairs), **counts},
        "test_sentences": len(test),
        "training": training,
        "accuracy": {
            e: {"all": s["accuracy"], **{g: v["accuracy"] for g, v in s["groups"].items()}}
            for e, s in accuracy.items()
        },
        "spearman_vs_exact_log_prob": correlation,
        "speed": speed,
        "eval_pairs_seconds": eval_seconds,
        "electric_gap_points": gap,
        "wall_seconds": total,
        "load_average_end": load_average(),
    }
    (out / "electric_vs_pll.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "electric_vs_pll.md").write_text("\n".join(rows) + "\n")
    write_log(out / "electric_vs_pll.log")


if __name__ == "__main__":
    main()
