"""Fixtures for the recipe tests: a tiny corpus, a word-level tokenizer, tiny configurations."""

from __future__ import annotations

import random

import pytest

from textebm.data.tokenizers import train_tokenizer
from textebm.recipes.config import ClmConfig, MlmConfig

WORDS = (
    "the a cat dog bird child sat ran saw ate sang on in under near big small red green "
    "old happy river park house tree and but ."
).split()


def write_corpus(path, lines: int, seed: int) -> None:
    """Random sentences of 3-9 words, five lines to a document, a blank line between documents."""
    rng = random.Random(seed)
    text = []
    for i in range(lines):
        text.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))))
        if i % 5 == 4:
            text.append("")
    path.write_text("\n".join(text) + "\n")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """(train file, validation file)."""
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(folder / "train.txt", 200, seed=1)
    write_corpus(folder / "valid.txt", 30, seed=2)
    return folder / "train.txt", folder / "valid.txt"


@pytest.fixture(scope="session")
def tokenizer_dir(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    lines = corpus[0].read_text().splitlines()
    train_tokenizer(lines, kind="wordlevel", model_max_length=32).save_pretrained(folder)
    return folder


@pytest.fixture
def make_config(corpus, tokenizer_dir, tmp_path):
    """make_config(cls, **overrides): a tiny, fast configuration writing under tmp_path."""

    def make(cls=MlmConfig, **overrides):
        values = dict(
            corpus=str(corpus[0]),
            validation=str(corpus[1]),
            tokenizer=str(tokenizer_dir),
            output=str(tmp_path / "run"),
            layers=1,
            hidden_size=32,
            heads=2,
            intermediate_size=64,
            context_length=16,
            batch_size=8,
            max_steps=6,
            eval_every=3,
            log_every=1,
            checkpoint_every=3,
            learning_rate=3e-3,
        )
        if cls is MlmConfig:
            values["pll_examples"] = 4
        return cls(**{**values, **overrides})

    return make


@pytest.fixture(params=["mlm", "clm"])
def recipe(request):
    """(config class, entry function) of each recipe."""
    from textebm.recipes.clm import train_clm
    from textebm.recipes.mlm import train_mlm

    return {"mlm": (MlmConfig, train_mlm), "clm": (ClmConfig, train_clm)}[request.param]
