"""The conditional masked LM: save/load, a bidirectional decoder, cross-attention, padding, the
length predictor and the forward loss."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModel

import textebm.models  # noqa: F401  (registers the model type with AutoModel)
from textebm.errors import UsageError
from textebm.models.cmlm import CMLMConfig, CMLMModel
from textebm.models.loading import load_cmlm


def _ids(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor([tokenizer(text)["input_ids"]])


def test_save_and_load_round_trip(cmlm, tmp_path):
    model, tokenizer = cmlm
    assert isinstance(model, CMLMModel) and model.output.weight is model.embed_tokens.weight
    model.save_pretrained(tmp_path)
    again = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(again, CMLMModel) and again.config.model_type == "textebm-cmlm"
    assert again.output.weight is again.embed_tokens.weight  # still tied after loading
    source, target = _ids(tokenizer, "the cat sat"), _ids(tokenizer, "a [MASK] dog")
    with torch.no_grad():
        before, after = model(source, None, target), again(source, None, target)
    assert torch.allclose(before.logits, after.logits, atol=1e-6)
    assert torch.allclose(before.length_log_probs, after.length_log_probs, atol=1e-6)


def test_load_cmlm_refuses_another_model_type(wordlevel_dir):
    with pytest.raises(UsageError, match="not a conditional masked LM"):
        load_cmlm(str(wordlevel_dir))


def test_decoder_sees_the_whole_target_and_the_source(cmlm):
    model, tokenizer = cmlm
    source = model.encode(_ids(tokenizer, "the cat sat on the mat"))
    other = model.encode(_ids(tokenizer, "dogs ran in the park"))
    first = _ids(tokenizer, "[MASK] dog ran")
    later = _ids(tokenizer, "[MASK] dog sat")  # differs after position 1 only
    with torch.no_grad():
        base = model.decode(first, None, source.last_hidden_state)
        changed_later = model.decode(later, None, source.last_hidden_state)
        changed_source = model.decode(first, None, other.last_hidden_state)
    # Position 1 (the [MASK]) depends on a LATER token: self-attention is not causal.
    assert not torch.allclose(base[0, 1], changed_later[0, 1], atol=1e-4)
    assert not torch.allclose(base[0, 1], changed_source[0, 1], atol=1e-4)


def test_padding_changes_nothing(cmlm):
    model, tokenizer = cmlm
    pad = tokenizer.pad_token_id
    short_source, long_source = _ids(tokenizer, "a cat"), _ids(tokenizer, "the dog ran in the park")
    short_target, long_target = _ids(tokenizer, "[MASK] cat"), _ids(tokenizer, "a [MASK] ran fast")
    width_s, width_t = long_source.shape[1], long_target.shape[1]

    def padded(ids, width):
        return torch.cat([ids, torch.full((1, width - ids.shape[1]), pad)], dim=1)

    sources = torch.cat([padded(short_source, width_s), long_source])
    targets = torch.cat([padded(short_target, width_t), long_target])
    with torch.no_grad():
        batched = model(sources, (sources != pad).long(), targets, (targets != pad).long())
        alone = model(short_source, None, short_target)
    n = short_target.shape[1]
    assert torch.allclose(batched.logits[0, :n], alone.logits[0], atol=1e-5)
    assert torch.allclose(batched.length_log_probs[0], alone.length_log_probs[0], atol=1e-5)


def test_length_predictor_is_a_distribution_over_lengths(cmlm):
    model, tokenizer = cmlm
    with torch.no_grad():
        log_probs = model.predict_length(model.encode(_ids(tokenizer, "the cat sat")))
    assert log_probs.shape == (1, model.config.max_target_length + 1)
    assert model.config.max_target_length == model.config.max_position_embeddings - 2
    assert math.isclose(float(log_probs.exp().sum()), 1.0, abs_tol=1e-5)


def test_forward_loss_is_masked_cross_entropy_plus_length_nll(cmlm):
    """By hand: mean over the labelled positions of -log softmax(logits)[label], plus the mean
    of -log p(length)."""
    model, tokenizer = cmlm
    source = _ids(tokenizer, "the cat sat")
    target = _ids(tokenizer, "[MASK] dog [MASK]")  # [CLS] [MASK] dog [MASK] [SEP]
    truth = _ids(tokenizer, "a dog ran")
    labels = torch.full_like(target, -100)
    labels[0, 1], labels[0, 3] = truth[0, 1], truth[0, 3]
    with torch.no_grad():
        out = model(source, None, target, labels=labels, length_labels=torch.tensor([3]))
    log_probs = torch.log_softmax(out.logits[0], dim=-1)
    masked = -(log_probs[1, truth[0, 1]] + log_probs[3, truth[0, 3]]) / 2
    expected = masked - out.length_log_probs[0, 3]
    assert torch.isclose(out.loss, expected, atol=1e-5)


def test_too_long_inputs_are_refused():
    model = CMLMModel(CMLMConfig(vocab_size=20, hidden_size=8, max_position_embeddings=6)).eval()
    with pytest.raises(ValueError, match="longer than the model's 6 positions"):
        model.encode(torch.ones(1, 7, dtype=torch.long))
