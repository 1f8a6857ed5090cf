"""Fixtures for the recipe tests: a tiny corpus, a word-level tokenizer, tiny configurations."""

from __future__ import annotations

import random

import pytest

from tests.recipes.tiny_run import TINY_RUN
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
            **TINY_RUN,
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


def _load_toy():
    """tests/recipes/toy_objective.py as a module (tests are not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    if "toy_objective" not in sys.modules:
        path = Path(__file__).with_name("toy_objective.py")
        spec = importlib.util.spec_from_file_location("toy_objective", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["toy_objective"] = module
        spec.loader.exec_module(module)
    return sys.modules["toy_objective"]


@pytest.fixture(scope="session")
def noise_dir(tokenizer_dir, tmp_path_factory):
    """A tiny random causal LM over the fixture tokenizer's vocabulary: the toy's noise model."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from textebm.data.tokenizers import load_tokenizer_folder

    vocabulary = len(load_tokenizer_folder(str(tokenizer_dir)))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=vocabulary,
            n_positions=32,
            n_embd=16,
            n_layer=1,
            n_head=2,
            bos_token_id=0,
            eos_token_id=0,
        )
    )
    folder = tmp_path_factory.mktemp("noise")
    model.save_pretrained(folder)
    return folder


@pytest.fixture
def toy(noise_dir):
    """(ToyConfig with the noise model set, train_toy) of the toy objective."""
    module = _load_toy()

    def config(**values):
        return module.ToyConfig(noise_model=str(noise_dir), **values)

    return config, module.train_toy


@pytest.fixture
def electric_module():
    """`textebm.models.electric`, its model type registered with the Auto classes."""
    from textebm.models import electric

    electric.register()
    return electric
