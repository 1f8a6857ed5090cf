"""Pseudo-log-likelihood scoring speed and memory: textebm vs minicons vs the naive loop.

    . .venv/bin/activate && python benchmarks/score_pll.py [--results benchmarks/RESULTS-score.md]

One run scores the same PTB test sentences (lines shuffled with random.Random(0), the first
--n-sentences) three ways, each in a fresh process so that peak memory does not mix:

  minicons  MaskedLMScorer(model_dir, "cpu").sequence_score(batch of 16, PLL_metric="original"),
            per-token log-probabilities summed; runs in the benchmark-only env .bench-venv
            (transformers < 5; see benchmarks/README.md), which this script creates if missing;
  naive     textebm.energies.reference.naive_masked_lm_energies: one masked copy, one full
            forward pass at a time;
  textebm   MaskedLMEnergy(model, tokenizer, kind="norm", batch_tokens=N).score_texts(...).

The model is BERT-base-shaped (12 layers, hidden 768, 12 heads, vocabulary 30,522) with seeded
random weights, saved as safetensors under ~/.cache/textebm-bench with a word-level `vocab.txt`
built from PTB's training words (see `build_model_dir`). Then one ~350-word sentence is scored by
textebm under two token budgets, to show that peak memory follows the budget, not the length.

Every process uses the same number of threads (--threads, default 2). Before timing, the script
waits (up to --max-wait seconds) for the 1-minute load average to drop below --max-load, and it
reports how much CPU other processes used during each timed run.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _minicons_side import rss_mb
from _report import write_report

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / ".bench-venv"
BENCH_PYTHON = BENCH_VENV / "bin" / "python"
MINICONS_SIDE = Path(__file__).resolve().parent / "_minicons_side.py"
DEFAULT_PTB = REPO.parent / "shared" / "data" / "ptb"
DEFAULT_CACHE = Path.home() / ".cache" / "textebm-bench"
MODEL_NAME = "bert-base-ptb-v1-seed0"  # change the suffix when build_model_dir changes

BERT_BASE = dict(
    vocab_size=30522,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BENCH_ENV_STEPS = [
    [sys.executable, "-m", "venv", str(BENCH_VENV)],
    [str(BENCH_VENV / "bin" / "pip"), "install", "torch==2.13.0"],
    [str(BENCH_VENV / "bin" / "pip"), "install", "transformers>=4.57,<5", "minicons==0.3.39"],
]


# ---------------------------------------------------------------- environment, model, data


def bench_env_ready() -> bool:
    """Whether .bench-venv exists and imports minicons on a transformers older than 5."""
    if not BENCH_PYTHON.exists():
        return False
    check = "import minicons.scorer, transformers; assert int(transformers.__version__[0]) < 5"
    return subprocess.run([BENCH_PYTHON, "-c", check], capture_output=True).returncode == 0


def ensure_bench_env(create: bool) -> None:
    """Create the minicons env (torch pinned first: an unpinned torch pulls a CUDA build)."""
    if bench_env_ready():
        return
    commands = "\n".join("  " + shlex.join(step) for step in BENCH_ENV_STEPS)
    if not create:
        sys.exit(f"error: no minicons env at {BENCH_VENV}; create it with:\n{commands}")
    print(f"creating the minicons env {BENCH_VENV}:\n{commands}", file=sys.stderr)
    for step in BENCH_ENV_STEPS:
        subprocess.run(step, check=True)
    if not bench_env_ready():
        sys.exit(f"error: {BENCH_VENV} was created but does not import minicons")


def ptb_vocabulary(train_file: Path) -> list[str]:
    """Word-level BERT vocabulary covering PTB: specials, then PTB's pieces by frequency.

    BERT's tokenizer (BertPreTokenizer, in the fast tokenizer of transformers 4 and 5 alike, which
    ignores `never_split`) splits on punctuation before the vocabulary lookup: `<unk>` becomes
    `<` `unk` `>`, `n't` becomes `n` `'` `t`, `u.s.` becomes `u` `.` `s` `.`. So the vocabulary
    holds the pieces PTB's 10,000 training words split into (9,655 of them), not the words
    themselves, and every PTB sentence tokenises without [UNK] and without `##` continuations.
    The list is padded with [unusedN] entries to BERT-base's 30,522.
    """
    from tokenizers.pre_tokenizers import BertPreTokenizer

    with gzip.open(train_file, "rt", encoding="utf-8") as file:
        words = collections.Counter(word for line in file for word in line.split())
    split = BertPreTokenizer().pre_tokenize_str
    pieces: collections.Counter[str] = collections.Counter()
    for word, count in words.items():
        for piece, _ in split(word):
            pieces[piece] += count
    ordered = sorted(pieces, key=lambda piece: (-pieces[piece], piece))
    vocab = SPECIALS + [piece for piece in ordered if piece not in SPECIALS]
    unused = BERT_BASE["vocab_size"] - len(vocab)
    return vocab + [f"[unused{i}]" for i in range(unused)]


def build_model_dir(cache: Path, ptb: Path) -> Path:
    """The benchmark model folder, built once: config, seeded random weights, BERT tokenizer.

    Saved by transformers 5 as safetensors; the tokenizer is only `vocab.txt` plus a
    `tokenizer_config.json` naming `BertTokenizer` (do_lower_case false), which transformers 4 and
    5 both load (a tokenizer.json saved by transformers 5 does not load in 4.x).
    """
    target = cache / MODEL_NAME
    if (target / "model.safetensors").exists():
        return target
    import torch
    from transformers import BertConfig, BertForMaskedLM

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=MODEL_NAME + ".", dir=cache))
    vocab = ptb_vocabulary(ptb / "ptb.train.txt.gz")
    (work / "vocab.txt").write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": False,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": BERT_BASE["max_position_embeddings"],
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    (work / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    config = BertConfig(**BERT_BASE, pad_token_id=0)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(work)
    work.rename(target)  # atomic: a half-built folder never has the final name
    return target


def load_sentences(ptb: Path, n: int, long_words: int) -> tuple[list[str], str]:
    """The first n lines of PTB test shuffled with random.Random(0), and one long sentence.

    The long sentence concatenates the next shuffled lines, cut to exactly `long_words` words.
    """
    lines = [line.strip() for line in (ptb / "ptb.test.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    random.Random(0).shuffle(lines)
    words: list[str] = []
    for line in lines[n:]:
        words.extend(line.split())
        if len(words) >= long_words:
            break
    return lines[:n], " ".join(words[:long_words])


# ---------------------------------------------------------------- workers (fresh processes)


def worker(args: argparse.Namespace) -> None:
    """One method in this (fresh) process; prints one JSON object."""
    import torch

    torch.set_num_threads(args.threads)
    from textebm.energies import MaskedLMEnergy
    from textebm.energies.reference import naive_masked_lm_energies
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
        start = time.perf_counter()
        terms = naive_masked_lm_energies(model, tokenizer, sentences, kind="norm")
        result["seconds"] = time.perf_counter() - start
        result["scores"] = [-sum(row) for row in terms]
    else:
        energy = MaskedLMEnergy(model, tokenizer, kind="norm", batch_tokens=args.batch_tokens)
        energy.score_texts([" ".join(sentences[0].split()[:8])])  # warm-up, untimed
        before = energy.cost.snapshot()
        start = time.perf_counter()
        scored = energy.score_texts(sentences)
        result["seconds"] = time.perf_counter() - start
        result["scores"] = [-record.energy for record in scored]
        cost = energy.cost - before
        result["cost"] = {"sequences": cost.sequences, "calls": cost.calls, "tokens": cost.tokens}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(result, sys.stdout)


def cpu_busy_seconds() -> float:
    """CPU seconds all processes on the machine have spent busy since boot."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6))  # user nice system irq softirq (no steal)
    return busy / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(command: list[str], threads: int) -> dict:
    """Run one worker; its JSON plus the wall time and the CPU others used meanwhile (cores)."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TOKENIZERS_PARALLELISM="false",
        CI="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONWARNINGS="ignore",
    )
    busy, mine, start = cpu_busy_seconds(), children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {shlex.join(command)} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout)
    others = (cpu_busy_seconds() - busy) - (children_cpu_seconds() - mine)
    result["other_cores"] = max(others, 0.0) / wall
    result["load"] = os.getloadavg()
    return result


def textebm_command(args: argparse.Namespace, mode: str, sentences: Path, **extra) -> list[str]:
    command = [sys.executable, __file__, "--worker", mode, "--model-dir", str(args.model_dir)]
    command += ["--sentences", str(sentences), "--threads", str(args.threads)]
    for key, value in extra.items():
        command += ["--" + key.replace("_", "-"), str(value)]
    return command


def minicons_command(args: argparse.Namespace, mode: str, sentences: Path, *rest: str) -> list:
    side = [str(BENCH_PYTHON), str(MINICONS_SIDE), mode, str(args.model_dir), str(sentences)]
    return [*side, *rest, "--threads", str(args.threads)]


# ---------------------------------------------------------------- the run


def wait_for_quiet(max_load: float, max_wait: float, say) -> tuple[float, float, float]:
    """Wait until the 1-minute load average is below max_load, at most max_wait seconds."""
    deadline = time.monotonic() + max_wait
    while (load := os.getloadavg())[0] > max_load and time.monotonic() < deadline:
        print(f"load average {load[0]:.2f} > {max_load}: waiting 30 s", file=sys.stderr)
        time.sleep(30)
    if load[0] > max_load:
        say(f"WARNING: load average still {load[0]:.2f} after waiting {max_wait:.0f} s")
    return load


def useful_gflop(lengths: list[int], config: dict) -> float:
    """Forward GFLOP of the minimal work: one copy per scored token at its own length, the
    encoder at every position, the output layer (transform + vocabulary) only at the mask."""
    d, ff, layers, vocab = (
        config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size")
    )
    total = 0.0
    for length in lengths:
        per_copy = layers * (2 * length * (4 * d * d + 2 * d * ff) + 4 * length * length * d)
        per_copy += 2 * d * d + 2 * d * vocab
        total += (length - 2) * per_copy
    return total / 1e9


def main() -> None:
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-load", type=float, default=0.7)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.25,
        help="rerun a timed method (up to --retries times) if other processes used more cores",
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
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    ensure_bench_env(create=not args.no_create_env)
    note("building/loading the model folder ...")
    args.model_dir = build_model_dir(args.cache, args.ptb)
    sentences, long_sentence = load_sentences(args.ptb, args.n_sentences, args.long_words)
    work = Path(tempfile.mkdtemp(prefix="textebm-bench-"))
    short_file, long_file, check_file = (work / f"{n}.json" for n in ("short", "long", "check"))
    short_file.write_text(json.dumps(sentences))
    long_file.write_text(json.dumps([long_sentence]))
    check_file.write_text(json.dumps([*sentences, long_sentence]))

    # Both sides must see the same token ids and the same weights.
    import torch

    note("checking token ids and weights on both sides ...")
    ours = run_process(
        textebm_command(args, "check", check_file, probe=work / "ours.pt"), args.threads
    )
    theirs = run_process(
        minicons_command(args, "check", check_file, str(work / "theirs.pt")), args.threads
    )
    if ours["ids"] != theirs["ids"]:
        bad = next(
            i for i, (a, b) in enumerate(zip(ours["ids"], theirs["ids"], strict=True)) if a != b
        )
        sys.exit(f"error: token ids differ between the two sides, first at sentence {bad}")
    unknown = sum(row.count(ours["unk_id"]) for row in ours["ids"])
    probe = (
        (torch.load(work / "ours.pt")["logits"] - torch.load(work / "theirs.pt")["logits"])
        .abs()
        .max()
        .item()
    )
    lengths = [len(row) for row in ours["ids"][: len(sentences)]]
    long_length = len(ours["ids"][-1])

    import platform

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
        f"data: PTB test, random.Random(0) shuffle, first {len(sentences)} sentences; "
        f"{sum(lengths) - 2 * len(lengths)} scored tokens, length with [CLS]/[SEP] "
        f"mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}"
    )

    load = wait_for_quiet(args.max_load, args.max_wait, say)
    say(f"load average before timing: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    def timed(command: list[str]) -> dict:
        """Run a timed method; rerun it when other processes took CPU meanwhile."""
        for attempt in range(args.retries + 1):
            run = run_process(command, args.threads)
            run["attempts"] = attempt + 1
            if run["other_cores"] <= args.max_others or attempt == args.retries:
                return run
            note(f"other processes used {run['other_cores']:.2f} cores meanwhile; rerunning")
            wait_for_quiet(args.max_load, args.max_wait, say)
        raise AssertionError("unreachable")

    runs: dict[str, dict] = {}
    note(f"minicons, batches of {args.minicons_batch} ...")
    runs["minicons"] = timed(
        minicons_command(args, "score", short_file, "--batch-size", str(args.minicons_batch))
    )
    if not args.skip_naive:
        note("naive loop ...")
        runs["naive"] = timed(textebm_command(args, "naive", short_file))
    note(f"textebm, batch_tokens={args.batch_tokens} ...")
    runs["textebm"] = timed(
        textebm_command(args, "textebm", short_file, batch_tokens=args.batch_tokens)
    )

    gflop = useful_gflop(lengths, BERT_BASE)
    say()
    say(f"{len(sentences)} sentences (minimal work {gflop:.0f} GFLOP):")
    say(
        f"{'method':<28}{'sent/s':>8}{'seconds':>9}{'GFLOP/s':>9}{'peak RSS':>10}"
        f"{'after load':>12}{'others':>8}{'tries':>7}"
    )
    labels = {
        "minicons": f"minicons (batch {args.minicons_batch})",
        "naive": "naive loop (textebm ref.)",
        "textebm": f"textebm (batch_tokens {args.batch_tokens})",
    }
    for name, run in runs.items():
        say(
            f"{labels[name]:<28}{len(sentences) / run['seconds']:>8.3f}{run['seconds']:>9.1f}"
            f"{gflop / run['seconds']:>9.1f}{run['peak_rss_mb']:>8.0f}MB"
            f"{run['rss_loaded_mb']:>10.0f}MB{run['other_cores']:>8.2f}{run['attempts']:>7}"
        )
    say(
        "(peak RSS: ru_maxrss of the method's own process; after load: RSS once the model is "
        "loaded; others: CPU cores other processes used during the run, on average; tries: runs "
        f"needed to get others <= {args.max_others})"
    )
    cost = runs["textebm"]["cost"]
    say(
        f"textebm cost: {cost['sequences']} masked copies in {cost['calls']} model calls, "
        f"{cost['tokens']} token slots ({cost['tokens'] / sum(n * (n - 2) for n in lengths):.3f}x "
        "the unpadded minimum)"
    )

    ours_scores = runs["textebm"]["scores"]
    say()
    goal_speed = runs["minicons"]["seconds"] / runs["textebm"]["seconds"]
    diff_minicons = max(
        abs(a - b) for a, b in zip(ours_scores, runs["minicons"]["scores"], strict=True)
    )
    say(f"textebm / minicons throughput: {goal_speed:.2f}x")
    if "naive" in runs:
        say(
            f"textebm / naive throughput:    "
            f"{runs['naive']['seconds'] / runs['textebm']['seconds']:.2f}x"
        )
        diff_naive = max(
            abs(a - b) for a, b in zip(ours_scores, runs["naive"]["scores"], strict=True)
        )
        say(f"max |score difference| textebm vs naive:    {diff_naive:.2e}")
    say(
        f"max |score difference| textebm vs minicons: {diff_minicons:.2e} "
        "(sentence log-likelihood = -energy vs minicons' summed log-probabilities)"
    )
    ok = goal_speed >= 2.5 and diff_minicons <= 1e-3
    say(f"goal (>= 2.5x minicons, scores <= 1e-3 apart): {'MET' if ok else 'NOT MET'}")

    budgets = [int(value) for value in args.long_batch_tokens.split(",") if value.strip()]
    if budgets:
        say()
        say(
            f"one long sentence: {args.long_words} PTB words, {long_length} tokens "
            f"({long_length - 2} masked copies of {long_length} tokens)"
        )
        for budget in budgets:
            note(f"long sentence, textebm batch_tokens={budget} ...")
            run = timed(textebm_command(args, "textebm", long_file, batch_tokens=budget))
            say(
                f"  textebm batch_tokens {budget:>6}: peak RSS {run['peak_rss_mb']:.0f}MB "
                f"({run['peak_rss_mb'] - run['rss_loaded_mb']:+.0f}MB over the loaded model), "
                f"{run['seconds']:.0f} s, {run['cost']['calls']} model calls, "
                f"others {run['other_cores']:.2f} cores"
            )
        short = runs["textebm"]
        say(
            f"  (the {len(sentences)} short sentences at batch_tokens {args.batch_tokens}: "
            f"{short['peak_rss_mb'] - short['rss_loaded_mb']:+.0f}MB over the loaded model)"
        )
        logits_gb = (long_length - 2) * long_length * BERT_BASE["vocab_size"] * 4 / 1e9
        say(
            f"  minicons: not run; one pass over all {long_length - 2} copies would hold "
            f"full logits of {logits_gb:.1f} GB (float32), before log-softmax copies"
        )
    say(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.results:
        title = "Pseudo-log-likelihood scoring: textebm vs minicons vs the naive loop"
        write_report(args.results, title, "```\n" + "\n".join(lines) + "\n```")
        note(f"wrote {args.results}")


if __name__ == "__main__":
    main()
