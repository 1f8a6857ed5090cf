"""Pseudo-log-likelihood scoring speed and memory: textebm vs minicons vs the naive loop.

    . .venv/bin/activate && python benchmarks/score_pll.py [--results benchmarks/RESULTS-score.md]

One run scores the same PTB test sentences (lines shuffled with random.Random(0), the first
--n-sentences) four ways, each in a fresh process so that peak memory does not mix:

  minicons  MaskedLMScorer(model_dir, "cpu").sequence_score(batch of 16, PLL_metric="original"),
            per-token log-probabilities summed; runs in the benchmark-only env .bench-venv
            (transformers < 5; see benchmarks/README.md), which this script creates if missing;
  naive     textebm.energies.reference.naive_masked_lm_energies: one masked copy, one full
            forward pass at a time;
  textebm   MaskedLMEnergy(model, tokenizer, kind="norm", batch_tokens=N).score_texts(...),
            eagerly and with compile=True.

Each method's useful GFLOP/s (`useful_gflop`) is stated as a fraction of the pinned matrix-product
rate (textebm.hardware.matmul_rate) timed in its own process just before and after its timed
section. The acceptance check then times whole `textebm score` and minicons processes on all the
sentences, each minus its own run on the first sentence alone (start-up, loading and compilation
mostly cancel), and wants textebm >= 2.0x minicons.

The model is BERT-base-shaped (12 layers, hidden 768, 12 heads, vocabulary 30,522) with seeded
random weights, saved as safetensors under ~/.cache/textebm-bench with a word-level `vocab.txt`
built from PTB's training words (see `build_model_dir`). Then one ~350-word sentence is scored by
textebm under two token budgets, to show that peak memory follows the budget, not the length.

Every process uses the same number of threads (--threads, default 2). Before timing, the script
waits (up to --max-wait seconds) for the 1-minute load average to drop below --max-load, and it
reports how much CPU other processes used during each timed run; a run still busy after its
retries reports 'no ratio reported: machine busy during ...' instead of any ratio it enters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _minicons_side import rss_mb
from _processes import Timer, refusal, run_process, wait_for_quiet
from _report import Transcript, write_report
from _score_cli import cli_check, long_sentence_memory, minicons_command
from _score_setup import (
    BERT_BASE,
    DEFAULT_CACHE,
    DEFAULT_PTB,
    REPO,
    build_model_dir,
    ensure_bench_env,
    load_sentences,
    useful_gflop,
)

USEFUL_GOAL = 0.85  # textebm's useful GFLOP/s as a fraction of the matrix-product rate


# ---------------------------------------------------------------- workers (fresh processes)


def worker(args: argparse.Namespace) -> None:
    """One method in this (fresh) process; prints one JSON object."""
    import torch

    torch.set_num_threads(args.threads)
    from textebm.energies import MaskedLMEnergy
    from textebm.energies.reference import naive_masked_lm_energies
    from textebm.hardware import matmul_rate
    from textebm.models.loading import load_masked_lm

    with open(args.sentences) as file:
        sentences = json.load(file)
    model, tokenizer = load_masked_lm(args.model_dir, device="cpu")
    rss_loaded = rss_mb()
    result: dict = {"rss_loaded_mb": rss_loaded, "threads": torch.get_num_threads()}

    if args.worker == "check":
        import transformers

        ids = tokenizer(sentences)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids[0]])).logits[0]
        torch.save({"logits": logits.contiguous()}, args.probe)
        result.update(
            ids=ids,
            unk_id=tokenizer.unk_token_id,
            tokenizer=type(tokenizer).__name__,
            attention=model.config._attn_implementation,
            versions={"torch": torch.__version__, "transformers": transformers.__version__},
        )
    elif args.worker == "naive":
        warm = " ".join(sentences[0].split()[:8])
        naive_masked_lm_energies(model, tokenizer, [warm], kind="norm")
        before = matmul_rate(threads=args.threads)
        start = time.perf_counter()
        terms = naive_masked_lm_energies(model, tokenizer, sentences, kind="norm")
        result["seconds"] = time.perf_counter() - start
        result["matmul_gflops"] = [before, matmul_rate(threads=args.threads)]
        result["scores"] = [-sum(row) for row in terms]
    else:
        energy = MaskedLMEnergy(
            model, tokenizer, kind="norm", batch_tokens=args.batch_tokens, compile=args.compile
        )
        # Untimed warm-up (compilation, with compile=True): one text makes an unpadded pass;
        # two texts of different lengths, with padding allowed, a padded one, which takes the
        # model's other attention-mask path.
        start = time.perf_counter()
        words = sentences[0].split() * 2
        energy.score_texts([" ".join(words[:8])])
        energy.max_padding, max_padding = 1.0, energy.max_padding
        energy.score_texts([" ".join(words[:8]), " ".join(words[:12])])
        energy.max_padding = max_padding
        result["warmup_seconds"] = time.perf_counter() - start
        rate_before = matmul_rate(threads=args.threads)
        before = energy.cost.snapshot()
        start = time.perf_counter()
        scored = energy.score_texts(sentences)
        result["seconds"] = time.perf_counter() - start
        result["matmul_gflops"] = [rate_before, matmul_rate(threads=args.threads)]
        result["scores"] = [-record.energy for record in scored]
        cost = energy.cost - before
        result["cost"] = {"sequences": cost.sequences, "calls": cost.calls, "tokens": cost.tokens}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(result, sys.stdout)


def textebm_command(args: argparse.Namespace, mode: str, sentences: Path, **extra) -> list[str]:
    command = [sys.executable, __file__, "--worker", mode, "--model-dir", str(args.model_dir)]
    command += ["--sentences", str(sentences), "--threads", str(args.threads)]
    for key, value in extra.items():
        command += ["--" + key.replace("_", "-"), str(value)]
    return command


def check_both_sides(
    args: argparse.Namespace, work: Path, check_file: Path, n_short: int, say
) -> tuple[list[int], int]:
    """Both sides must see the same token ids and weights; prints the setup, returns lengths."""
    import torch

    print("checking token ids and weights on both sides ...", file=sys.stderr, flush=True)
    ours = run_process(
        textebm_command(args, "check", check_file, probe=work / "ours.pt"), args.threads, REPO
    )
    theirs = run_process(
        minicons_command(args, "check", check_file, str(work / "theirs.pt")), args.threads, REPO
    )
    if ours["ids"] != theirs["ids"]:
        bad = next(
            i for i, (a, b) in enumerate(zip(ours["ids"], theirs["ids"], strict=True)) if a != b
        )
        sys.exit(f"error: token ids differ between the two sides, first at sentence {bad}")
    unknown = sum(row.count(ours["unk_id"]) for row in ours["ids"])
    logits = [torch.load(work / f"{side}.pt")["logits"] for side in ("ours", "theirs")]
    probe = (logits[0] - logits[1]).abs().max().item()
    lengths = [len(row) for row in ours["ids"][:n_short]]

    say(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}")
    say(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"threads per process: {args.threads}"
    )
    say(
        f"textebm side: torch {ours['versions']['torch']}, transformers "
        f"{ours['versions']['transformers']}, {ours['tokenizer']}, attention {ours['attention']}"
    )
    say(
        f"minicons side: torch {theirs['versions']['torch']}, transformers "
        f"{theirs['versions']['transformers']}, minicons {theirs['versions']['minicons']}, "
        f"{theirs['tokenizer']}, attention {theirs['attention']}"
    )
    say(f"model: BERT-base shape, random weights (seed 0), {args.model_dir}")
    say(
        "tokenizer: word-level BERT vocab.txt from PTB train (9,655 pre-tokenizer pieces + 5 "
        "specials, padded to 30,522), BertTokenizer, do_lower_case false"
    )
    say(
        f"check: token ids identical on both sides for all {len(ours['ids'])} texts; "
        f"[UNK] tokens: {unknown}; max |logit difference| on a probe: {probe:.2e}"
    )
    say(
        f"data: PTB test, random.Random(0) shuffle, first {n_short} sentences; "
        f"{sum(lengths) - 2 * len(lengths)} scored tokens, length with [CLS]/[SEP] "
        f"mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}"
    )
    return lengths, len(ours["ids"][-1])


def report_methods(
    args: argparse.Namespace, runs: dict[str, dict], lengths: list[int], n: int, say
) -> None:
    """The table of timed methods, each one's useful work as a fraction of the matrix-product
    rate measured in its own process, and the ratios between methods (or why there is none)."""
    gflop = useful_gflop(lengths, BERT_BASE)
    say()
    say(
        f"{n} sentences (useful work {gflop:.0f} GFLOP: each masked copy's encoder at its own "
        "length, the output layer at the mask only)"
    )
    say(
        f"{'method':<28}{'sent/s':>7}{'seconds':>8}{'GFLOP/s':>8}{'matmul':>8}{'useful':>7}"
        f"{'peak RSS':>9}{'loaded':>8}{'others':>7}{'tries':>6}"
    )
    labels = {
        "minicons": f"minicons (batch {args.minicons_batch})",
        "naive": "naive loop (textebm ref.)",
        "textebm": f"textebm (batch_tokens {args.batch_tokens})",
        "textebm compiled": "textebm, compile=True",
    }
    for name, run in runs.items():
        rate = gflop / run["seconds"]
        fraction = "busy" if run["busy"] else f"{rate / reference_rate(run):.0%}"
        say(
            f"{labels[name]:<28}{n / run['seconds']:>7.3f}{run['seconds']:>8.1f}{rate:>8.1f}"
            f"{reference_rate(run):>8.1f}{fraction:>7}{run['peak_rss_mb']:>7.0f}MB"
            f"{run['rss_loaded_mb']:>6.0f}MB{run['other_cores']:>7.2f}{run['attempts']:>6}"
        )
    say(
        "(GFLOP/s: useful work per second; matmul: GFLOP/s of the pinned fp32 "
        "(8192x768)x(768x3072) "
        f"product, textebm.hardware.matmul_rate on {args.threads} threads, median of 10 after 3 "
        "warm-ups, timed in the method's own process just before and after its timed section, "
        "the mean of the two; useful: GFLOP/s as a fraction of matmul; peak RSS: ru_maxrss of the "
        "method's process; loaded: RSS once the model is loaded; others: CPU cores other "
        f"processes used during the run, on average; tries: runs needed to get others <= "
        f"{args.max_others}, after which a run counts as busy and no ratio is reported)"
    )
    for name, run in runs.items():
        before, after = run["matmul_gflops"]
        say(f"matmul rate in the {name} process: {before:.1f} before, {after:.1f} after GFLOP/s")
    cost = runs["textebm"]["cost"]
    say(
        f"textebm cost: {cost['sequences']} masked copies in {cost['calls']} model calls, "
        f"{cost['tokens']} token slots ({cost['tokens'] / sum(n * (n - 2) for n in lengths):.3f}x "
        "the unpadded minimum)"
    )

    for side in [name for name in runs if name.startswith("textebm")]:
        say()
        compare_textebm(side, runs, gflop, say)


def compare_textebm(side: str, runs: dict[str, dict], gflop: float, say) -> None:
    """One textebm row against the references: ratios (or why none), score differences, goal."""
    ours = runs[side]
    if "warmup_seconds" in ours:
        say(f"{side}: untimed warm-up on short sentences took {ours['warmup_seconds']:.1f} s")
    for name in ("minicons", "naive"):
        if name in runs:
            ratio = runs[name]["seconds"] / ours["seconds"]
            figure = refusal([ours, runs[name]]) or f"{ratio:.2f}x"
            say(f"{side} / {name} throughput (in-process, after warm-up): {figure}")
    for name in ("naive", "minicons"):
        if name in runs:
            pairs = zip(ours["scores"], runs[name]["scores"], strict=True)
            say(f"max |score difference| {side} vs {name}: {max(abs(a - b) for a, b in pairs):.2e}")
    goal = f"{side} goal (useful work >= {USEFUL_GOAL:.0%} of the matmul rate)"
    if why := refusal([ours]):
        say(f"{goal}: not judged, {why}")
    else:
        fraction = gflop / ours["seconds"] / reference_rate(ours)
        say(f"{goal}: {fraction:.0%}, {'MET' if fraction >= USEFUL_GOAL else 'NOT MET'}")


def reference_rate(run: dict) -> float:
    """The matrix-product rate a method is judged against: the mean of the products timed in its
    own process just before and just after its timed section (the machine's speed drifts)."""
    return statistics.fmean(run["matmul_gflops"])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sentences", type=int, default=48)
    parser.add_argument("--batch-tokens", type=int, default=8192, help="textebm's token budget")
    parser.add_argument("--minicons-batch", type=int, default=16)
    parser.add_argument("--long-words", type=int, default=350)
    parser.add_argument(
        "--long-batch-tokens",
        default="2048,8192",
        help="token budgets for the long sentence, comma-separated; empty to skip",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--skip-compiled", action="store_true", help="leave out textebm with compile=True"
    )
    parser.add_argument("--skip-cli", action="store_true", help="skip the `textebm score` check")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=0.7)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.25,
        help="rerun a timed method (up to --retries times) if other processes used more cores; "
        "a run still over it reports no ratio",
    )
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--no-create-env", action="store_true", help="don't create .bench-venv")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--ptb", type=Path, default=DEFAULT_PTB)
    parser.add_argument("--results", type=Path, help="also write the output here (markdown)")
    # internal: one method in a fresh process
    parser.add_argument("--worker", choices=["check", "naive", "textebm"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sentences", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(args)

    say = Transcript()

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    ensure_bench_env(create=not args.no_create_env)
    note("building/loading the model folder ...")
    args.model_dir = build_model_dir(args.cache, args.ptb)
    sentences, long_sentence = load_sentences(args.ptb, args.n_sentences, args.long_words)
    work = Path(tempfile.mkdtemp(prefix="textebm-bench-"))
    files = {n: work / f"{n}.json" for n in ("short", "one", "long", "check")}
    files["short"].write_text(json.dumps(sentences))
    files["one"].write_text(json.dumps(sentences[:1]))
    files["long"].write_text(json.dumps([long_sentence]))
    files["check"].write_text(json.dumps([*sentences, long_sentence]))
    lengths, long_length = check_both_sides(args, work, files["check"], len(sentences), say)

    load = wait_for_quiet(args.max_load, args.max_wait, say)
    say(f"load average before timing: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    timed = Timer(
        args.threads, REPO, args.max_others, args.retries, args.max_load, args.max_wait, say
    )

    runs: dict[str, dict] = {}
    note(f"minicons, batches of {args.minicons_batch} ...")
    batch = ["--batch-size", str(args.minicons_batch)]
    runs["minicons"] = timed("minicons", minicons_command(args, "score", files["short"], *batch))
    if not args.skip_naive:
        note("naive loop ...")
        runs["naive"] = timed("naive loop", textebm_command(args, "naive", files["short"]))
    note(f"textebm, batch_tokens={args.batch_tokens} ...")
    runs["textebm"] = timed(
        "textebm", textebm_command(args, "textebm", files["short"], batch_tokens=args.batch_tokens)
    )
    if not args.skip_compiled:
        note("textebm, compile=True ...")
        command = textebm_command(args, "textebm", files["short"], batch_tokens=args.batch_tokens)
        runs["textebm compiled"] = timed("textebm compiled", [*command, "--compile"])
    report_methods(args, runs, lengths, len(sentences), say)
    if not args.skip_cli:
        cli_check(args, timed, work, sentences, runs["textebm"]["scores"], say, note)
    if budgets := [int(value) for value in args.long_batch_tokens.split(",") if value.strip()]:

        def long_command(budget: int) -> list[str]:
            return textebm_command(args, "textebm", files["long"], batch_tokens=budget)

        long_sentence_memory(args, timed, long_command, long_length, budgets, runs, say, note)
    say(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.results:
        title = "Pseudo-log-likelihood scoring: textebm vs minicons vs the naive loop"
        write_report(args.results, title, say.fenced())
        note(f"wrote {args.results}")


if __name__ == "__main__":
    main()
