"""Regression: the encoder-decoder recipe must learn to *use* the source.

The Multi30k reference (post-norm BART, lr 1e-3) collapsed its encoder to one output for every
source and wrote the same sentence for every input. Here a tiny model trained by the recipe's
defaults translates number words word by word; a model that ignores the source cannot beat the
unconditional entropy of the targets, computed by hand below.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from tests.recipes.test_seq2seq import GERMAN, make, write_toy_translation
from textebm.models.seq2seq import load_seq2seq
from textebm.recipes.seq2seq import train_seq2seq
from textebm.recipes.seq2seq_config import Seq2SeqConfig

# write_pairs: 2-6 words (uniform), each one of ten (uniform), then [SEP]. A model blind to the
# source at best predicts each word at 1/10 and the length at 1/5, per sentence ln(5) + E[n] ln(10)
# nats over E[n] + 1 predicted tokens.
MEAN_WORDS = 4
UNCONDITIONAL_NATS = (math.log(5) + MEAN_WORDS * math.log(10)) / (MEAN_WORDS + 1)


def test_unconditional_entropy_by_simulation():
    """The hand-computed baseline matches the generator it describes."""
    rng = random.Random(0)
    lengths = [rng.randint(2, 6) for _ in range(20000)]
    mean = sum(lengths) / len(lengths)
    assert mean == pytest.approx(MEAN_WORDS, abs=0.05)
    assert pytest.approx(2.164, abs=1e-3) == UNCONDITIONAL_NATS


def conditioning_config(folder: Path, **overrides) -> Seq2SeqConfig:
    """The toy this test trains on, written into `folder`: 2,000 training and 64 validation
    pairs with their tokenizer, a 2 x 64 model at learning rate 1e-3 for 400 steps (the rest as
    `make`'s: 2 heads, context 16, no dropout), output in `folder`/run. `overrides` change any
    field (experiments/multi30k/diagnostics/toy_translation_probe.py sweeps them)."""
    pairs = write_toy_translation(folder, 2000, 64)
    settings = dict(
        layers=2,
        hidden_size=64,
        intermediate_size=128,
        batch_size=32,
        max_steps=400,
        eval_every=400,
        log_every=100,
        checkpoint_every=0,
        learning_rate=1e-3,  # the rate the collapsed Multi30k run used
    )
    return make(pairs, folder / "run", **{**settings, **overrides})


@pytest.mark.slow
def test_the_recipe_learns_to_use_the_source(tmp_path: Path):
    config = conditioning_config(tmp_path)
    torch.manual_seed(0)
    output = train_seq2seq(config)
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    loss = [r for r in records if r["split"] == "validation"][-1]["loss"]
    assert loss < 0.5 * UNCONDITIONAL_NATS, loss

    # The encoder's states differ between sources (the collapsed model's differed by ~1e-4).
    model, tokenizer = load_seq2seq(str(output))
    batch = tokenizer([" ".join(GERMAN[:3]), " ".join(GERMAN[5:8])], return_tensors="pt")
    with torch.no_grad():
        states = model.get_encoder()(**batch).last_hidden_state
    assert float((states[0] - states[1]).abs().mean()) > 0.1
