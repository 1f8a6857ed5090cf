"""Setup of benchmarks/score_pll.py: the minicons env, the benchmark model, the sentences, and the
count of useful work that throughput is stated in.
"""

from __future__ import annotations

import collections
import gzip
import json
import random
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

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

    vocab = ptb_vocabulary(ptb / "ptb.train.txt.gz")  # before mkdtemp: fails without litter
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=MODEL_NAME + ".", dir=cache))
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
