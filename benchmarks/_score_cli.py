"""score_pll.py's whole-process checks: `textebm score` against minicons processes (the
acceptance ratio) and one long sentence under several token budgets (memory follows the budget)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _processes import Timer, refusal
from _score_setup import BENCH_PYTHON, BERT_BASE, MINICONS_SIDE

CLI_GOAL = 2.0  # `textebm score` vs minicons, each minus its one-sentence run


def minicons_command(args: argparse.Namespace, mode: str, sentences: Path, *rest: str) -> list:
    side = [str(BENCH_PYTHON), str(MINICONS_SIDE), mode, str(args.model_dir), str(sentences)]
    return [*side, *rest, "--threads", str(args.threads)]


def cli_check(
    args: argparse.Namespace,
    timed: Timer,
    work: Path,
    sentences: list[str],
    library_scores: list[float],
    say,
    note,
) -> None:
    """The acceptance check: whole `textebm score` processes against whole minicons processes,
    each on all sentences minus the same on the first sentence alone, so that interpreter start,
    imports, model loading and one-time compilation mostly cancel."""
    variants: dict[str, list[str]] = {"textebm score": []}
    wall: dict[tuple[str, int], dict] = {}
    for n in (len(sentences), 1):
        text_file, json_file = work / f"cli-{n}.txt", work / f"cli-{n}.json"
        text_file.write_text("".join(line + "\n" for line in sentences[:n]))
        json_file.write_text(json.dumps(sentences[:n]))
        for side, flags in variants.items():
            note(f"`{side}` on {n} sentence(s) ...")
            output = work / f"cli-{n}.jsonl"
            command = [*cli_command(args, text_file, output), *flags]
            run = wall[side, n] = timed(f"{side} ({n})", command, False)
            run["scores"] = [
                -json.loads(line)["energy"] for line in output.read_text().split("\n")[:-1]
            ]
        note(f"minicons process on {n} sentence(s) ...")
        batch = ["--batch-size", str(args.minicons_batch)]
        wall["minicons", n] = timed(
            f"minicons ({n})", minicons_command(args, "run", json_file, *batch)
        )
    n = len(sentences)
    say()
    say(
        "acceptance check: whole processes, `textebm score FILE --model DIR --device cpu -o OUT` "
        f"vs minicons (batches of {args.minicons_batch}, no warm-up), on {n} sentences and on the "
        "first one alone:"
    )
    for (side, count), run in wall.items():
        say(
            f"  {side:<24}{count:>3} sentence(s): {run['wall']:7.1f} s wall, "
            f"others {run['other_cores']:.2f} cores, tries {run['attempts']}"
        )
    theirs = wall["minicons", n]["wall"] - wall["minicons", 1]["wall"]
    for side in variants:
        pairs = zip(wall[side, n]["scores"], library_scores, strict=True)
        diff = max(abs(a - b) for a, b in pairs)
        say(f"  max |score difference| `{side}` vs the library run: {diff:.2e}")
        ours = wall[side, n]["wall"] - wall[side, 1]["wall"]
        label = f"`{side}` / minicons, each minus its one-sentence run"
        if why := refusal([wall[side, n], wall[side, 1], wall["minicons", n], wall["minicons", 1]]):
            say(f"{label}: {why}")
            continue
        verdict = "MET" if theirs / ours >= CLI_GOAL else "NOT MET"
        say(
            f"{label}: {theirs:.1f} s / {ours:.1f} s = {theirs / ours:.2f}x "
            f"(goal >= {CLI_GOAL:.1f}x: {verdict})"
        )


def long_sentence_memory(args, timed, command_for, long_length, budgets, runs, say, note) -> None:
    """One long sentence under several token budgets: peak memory follows the budget.
    command_for(budget): the textebm worker command scoring it under that token budget."""
    say()
    say(
        f"one long sentence: {args.long_words} PTB words, {long_length} tokens "
        f"({long_length - 2} masked copies of {long_length} tokens)"
    )
    for budget in budgets:
        note(f"long sentence, textebm batch_tokens={budget} ...")
        run = timed(f"long sentence ({budget})", command_for(budget))
        say(
            f"  textebm batch_tokens {budget:>6}: peak RSS {run['peak_rss_mb']:.0f}MB "
            f"({run['peak_rss_mb'] - run['rss_loaded_mb']:+.0f}MB over the loaded model), "
            f"{run['seconds']:.0f} s, {run['cost']['calls']} model calls, "
            f"others {run['other_cores']:.2f} cores"
        )
    short = runs["textebm"]
    say(
        f"  (the short sentences at batch_tokens {args.batch_tokens}: "
        f"{short['peak_rss_mb'] - short['rss_loaded_mb']:+.0f}MB over the loaded model)"
    )
    logits_gb = (long_length - 2) * long_length * BERT_BASE["vocab_size"] * 4 / 1e9
    say(
        f"  minicons: not run; one pass over all {long_length - 2} copies would hold "
        f"full logits of {logits_gb:.1f} GB (float32), before log-softmax copies"
    )


def cli_command(args: argparse.Namespace, text_file: Path, output: Path) -> list[str]:
    """The `textebm score` command as a user types it, from the interpreter running this script."""
    score = [sys.executable, "-m", "textebm", "score", str(text_file), "--model"]
    return [*score, str(args.model_dir), "--device", "cpu", "-o", str(output)]
