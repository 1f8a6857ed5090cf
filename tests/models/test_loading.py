"""Loading masked LMs through the hub code path, and other architectures than BERT."""

from __future__ import annotations

import pytest
import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM, RobertaConfig, RobertaForMaskedLM

from textebm.energies import MaskedLMEnergy
from textebm.energies.reference import naive_masked_lm_energies
from textebm.errors import UsageError
from textebm.models.loading import load_causal_lm, load_masked_lm
from textebm.models.tiny import build_tiny_mlm, wordlevel_tokenizer


def test_save_load_round_trip_keeps_scores(wordlevel, sentences, tmp_path):
    model, tokenizer = wordlevel
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded, reloaded_tokenizer = load_masked_lm(str(tmp_path), device="cpu")
    before = MaskedLMEnergy(model, tokenizer).score_texts(sentences)
    after = MaskedLMEnergy(reloaded, reloaded_tokenizer).score_texts(sentences)
    assert [a.energy for a in after] == pytest.approx([b.energy for b in before], abs=1e-6)
    assert [a.tokens for a in after] == [b.tokens for b in before]


def test_tiny_builds_repeat_under_a_seed(tmp_path):
    first = load_masked_lm(str(build_tiny_mlm(tmp_path / "a", seed=3)))[0]
    second = load_masked_lm(str(build_tiny_mlm(tmp_path / "b", seed=3)))[0]
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_missing_model_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="model folder not found"):
        load_masked_lm(str(tmp_path / "absent"))
    with pytest.raises(UsageError, match=r"no config\.json"):
        load_masked_lm(str(tmp_path))


@pytest.mark.parametrize("architecture", ["roberta", "distilbert"])
def test_other_architectures_score_like_the_naive_loop(architecture, sentences, tmp_path):
    """The head-at-masked-position trick hooks the output layer, which every MLM has."""
    tokenizer = wordlevel_tokenizer(model_max_length=64)
    size = dict(vocab_size=len(tokenizer), max_position_embeddings=80, pad_token_id=0)
    torch.manual_seed(0)
    if architecture == "roberta":
        config = RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            initializer_range=0.1,
            **size,
        )
        model = RobertaForMaskedLM(config)
    else:
        config = DistilBertConfig(
            dim=32, n_layers=2, n_heads=2, hidden_dim=64, initializer_range=0.1, **size
        )
        model = DistilBertForMaskedLM(config)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model, tokenizer = load_masked_lm(str(tmp_path), device="cpu")
    scored = MaskedLMEnergy(model, tokenizer, batch_tokens=50).score_texts(sentences)
    reference = naive_masked_lm_energies(model, tokenizer, sentences)
    for item, terms in zip(scored, reference, strict=True):
        assert item.token_energies == pytest.approx(terms, abs=1e-4)


def test_causal_lm_loads_from_a_folder_with_the_same_errors(clm_dir, tmp_path):
    model, tokenizer = load_causal_lm(str(clm_dir), device="cpu")
    assert type(model).__name__ == "GPT2LMHeadModel" and not model.training
    assert tokenizer.eos_token_id is not None
    with pytest.raises(UsageError, match="model folder not found"):
        load_causal_lm(str(tmp_path / "absent"))
    with pytest.raises(UsageError, match=r"no config\.json"):
        load_causal_lm(str(tmp_path))


@pytest.mark.parametrize("loader", [load_masked_lm, load_causal_lm])
def test_unknown_hub_id_offline_is_one_line_with_the_fix(loader, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr("textebm.models.loading.offline_unless_reachable", lambda: True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError, match="offline, pass a local folder") as error:
        loader("textebm-tests/no-such-model")
    assert "\n" not in str(error.value)


def test_causal_lm_needs_an_eos_token(clm_dir, tmp_path):
    model, tokenizer = load_causal_lm(str(clm_dir), device="cpu")
    tokenizer.eos_token = None
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(UsageError, match="no eos token"):
        load_causal_lm(str(tmp_path))


def test_causal_lm_refuses_a_masked_lm_folder(wordlevel_dir):
    """A BERT masked LM loads as a causal LM too (BertLMHeadModel, with only a warning), so
    `score --energy clm` and `generate` would silently use it; the saved architecture decides."""
    with pytest.raises(UsageError, match="is a masked language model, not a causal one"):
        load_causal_lm(str(wordlevel_dir))
