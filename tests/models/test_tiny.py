"""The tiny models: built in memory (`tiny_llama`, `tiny_mlm`, `tiny_cmlm`) or saved
(`build_tiny_*`), one model."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

from textebm.models.tiny import (
    build_tiny_cmlm,
    build_tiny_llama,
    build_tiny_mlm,
    tiny_cmlm,
    tiny_llama,
    tiny_mlm,
    tiny_tokenizer,
    wordlevel_tokenizer,
)


def _assert_same_weights(model, expected_model) -> None:
    expected = expected_model.state_dict()
    assert model.state_dict().keys() == expected.keys()
    for name, weight in model.state_dict().items():
        assert torch.equal(weight, expected[name]), name


def test_the_saved_llama_is_the_in_memory_one(tmp_path):
    saved = AutoModelForCausalLM.from_pretrained(build_tiny_llama(tmp_path, seed=3))
    _assert_same_weights(saved, tiny_llama(wordlevel_tokenizer(), seed=3))


@pytest.mark.parametrize(
    ("build", "in_memory", "auto"),
    [(build_tiny_mlm, tiny_mlm, AutoModelForMaskedLM), (build_tiny_cmlm, tiny_cmlm, AutoModel)],
)
def test_the_saved_masked_lms_are_the_in_memory_ones(tmp_path, build, in_memory, auto):
    folder = build(tmp_path, "wordpiece", seed=2, init_scale=3.0, max_position_embeddings=32)
    expected = in_memory(tiny_tokenizer("wordpiece"), 2, 3.0, max_position_embeddings=32)
    saved = auto.from_pretrained(folder)
    assert saved.config.max_position_embeddings == 32
    assert saved.config.initializer_range == pytest.approx(0.02 * 3.0)
    _assert_same_weights(saved, expected)


def test_overrides_and_init_scale_reach_the_config():
    tokenizer = wordlevel_tokenizer()
    model = tiny_llama(tokenizer, init_scale=5.0, num_key_value_heads=1)
    assert model.config.num_key_value_heads == 1
    assert model.config.initializer_range == 0.02 * 5.0
    assert model.config.vocab_size == len(tokenizer)
    assert not model.config.tie_word_embeddings  # untied: the output row is its own
    # a larger initialiser range gives larger weights (a different draw than seed 0 at scale 1)
    wide = model.model.embed_tokens.weight.std()
    narrow = tiny_llama(tokenizer).model.embed_tokens.weight.std()
    assert wide > 3 * narrow
