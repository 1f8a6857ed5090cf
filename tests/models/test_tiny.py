"""The tiny Llama: built in memory (`tiny_llama`) or saved (`build_tiny_llama`), one model."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from textebm.models.tiny import build_tiny_llama, tiny_llama, wordlevel_tokenizer


def test_the_saved_llama_is_the_in_memory_one(tmp_path):
    saved = AutoModelForCausalLM.from_pretrained(build_tiny_llama(tmp_path, seed=3))
    in_memory = tiny_llama(wordlevel_tokenizer(), seed=3)
    expected = in_memory.state_dict()
    assert saved.state_dict().keys() == expected.keys()
    for name, weight in saved.state_dict().items():
        assert torch.equal(weight, expected[name]), name


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
