"""Sizes and data of the SequenceMatch text experiment (sequencematch_text.py): the scales and the
`prepare` part (training and validation text, tokenizer, prompts and reference continuations)."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, replace
from pathlib import Path

from cli_runs import say, textebm

# ../shared/data beside the checkout (a worktree elsewhere: set TEXTEBM_DATA)
_BESIDE = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATA = Path(os.environ.get("TEXTEBM_DATA", _BESIDE if _BESIDE.is_dir() else "/work/shared/data"))


@dataclass(frozen=True)
class Scale:
    """The sizes of one scale: model, steps, evaluation (the same for every seed)."""

    model: tuple[str, ...]  # model flags of `train clm`
    context: int
    mle_steps: int
    mle_batch: int
    mle_lr: float
    finetune_steps: int
    finetune_batch: int
    finetune_lr: float
    bc_warmup: int
    sample_every: int  # replay-buffer refresh every N steps
    samples_per_refresh: int
    model_fraction: float  # share of an SM batch's rows from the buffer
    sample_tokens: int  # most actions per model sample during training
    prompts: int
    max_new_tokens: int  # most actions per evaluated continuation
    eval_examples: int  # validation lines (fine-tunes) or blocks (mle) per evaluation (0 = all)


SCALES = {
    # checks that every part runs end to end, in minutes on the contended CPU
    "tiny": Scale(
        model=("--preset", "tiny"),
        context=64,
        mle_steps=30,
        mle_batch=8,
        mle_lr=2e-3,
        finetune_steps=12,
        finetune_batch=8,
        finetune_lr=5e-4,
        bc_warmup=4,
        sample_every=4,
        samples_per_refresh=16,
        model_fraction=0.2,
        sample_tokens=24,
        prompts=24,
        max_new_tokens=24,
        eval_examples=64,
    ),
    # GPT-2 4 x 256 (as experiments/ptb), sized so that one seed (mle, three fine-tunes, four
    # evaluations) takes 25-40 minutes of the quiet 2-core CPU and a table (3 seeds) at most
    # 2 hours: the README's "Budget" says how that was estimated
    "full": Scale(
        model=("--preset", "small"),
        context=128,
        mle_steps=2000,
        mle_batch=16,
        mle_lr=2e-3,
        finetune_steps=400,
        finetune_batch=16,
        finetune_lr=3e-4,
        bc_warmup=80,
        sample_every=40,
        samples_per_refresh=32,
        model_fraction=0.2,
        sample_tokens=40,
        prompts=400,
        max_new_tokens=64,
        eval_examples=1000,
    ),
}


# TinyStories' subset is small (3,924 training lines, 177k BPE tokens against PTB's 929k words) and
# its lines long (median 44 tokens, 90th percentile 67): fewer MLE steps (~7 epochs, not ~24),
# longer model samples
CORPUS_SIZES = {("tinystories", "full"): {"mle_steps": 600, "sample_tokens": 64}}


def scale_for(corpus: str, name: str) -> Scale:
    return replace(SCALES[name], **CORPUS_SIZES.get((corpus, name), {}))


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
