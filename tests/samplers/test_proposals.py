"""Proposal distributions, banned tokens, block conditionals and per-token terms, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.samplers.proposals import (
    Proposal,
    banned_tokens,
    fill_masks,
    masked_conditionals,
    token_terms,
)

NONE = torch.zeros(5, dtype=torch.bool)


def test_temperature_divides_logits():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    got = Proposal(temperature=2.0).log_probs(logits, NONE).exp()
    expected = torch.softmax(logits / 2, dim=-1)
    assert torch.allclose(got, expected)


def test_top_k_renormalises_over_the_k_best():
    """Logits 0..4, k=2: only tokens 3 and 4, with probabilities 1/(1+e) and e/(1+e)."""
    probs = Proposal(top_k=2).log_probs(torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]]), NONE).exp()
    e = math.e
    assert probs[0].tolist() == pytest.approx([0, 0, 0, 1 / (1 + e), e / (1 + e)])


def test_top_p_keeps_the_smallest_set_reaching_p():
    """Probabilities 0.5, 0.3, 0.15, 0.05: p=0.7 keeps {0.5, 0.3} -> 0.625, 0.375; p=0.5 keeps
    only the top token; p=1 keeps everything."""
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    none = torch.zeros(4, dtype=torch.bool)
    assert Proposal(top_p=0.7).log_probs(logits, none).exp()[0].tolist() == pytest.approx(
        [0.625, 0.375, 0, 0]
    )
    assert Proposal(top_p=0.5).log_probs(logits, none).exp()[0].tolist() == pytest.approx(
        [1, 0, 0, 0]
    )
    assert Proposal(top_p=1.0).log_probs(logits, none).exp()[0].tolist() == pytest.approx(
        [0.5, 0.3, 0.15, 0.05]
    )


def test_banned_tokens_get_no_mass_even_with_the_highest_logit():
    banned = torch.tensor([True, False, False, True, False])
    probs = Proposal(top_k=2).log_probs(torch.tensor([[9.0, 1.0, 2.0, 8.0, 0.0]]), banned).exp()
    assert probs[0, 0] == probs[0, 3] == 0
    assert probs[0].tolist() == pytest.approx([0, 1 / (1 + math.e), math.e / (1 + math.e), 0, 0])


def test_banned_covers_special_ids_and_ids_beyond_the_tokenizer(wordlevel):
    _, tokenizer = wordlevel
    banned = banned_tokens(tokenizer, len(tokenizer) + 3, torch.device("cpu"))
    assert banned[tokenizer.all_special_ids].all()
    assert banned[len(tokenizer) :].all()
    assert int(banned.sum()) == len(set(tokenizer.all_special_ids)) + 3


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"top_k": -1}, {"top_p": 0}, {"top_p": 1.5}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Proposal(**bad)


def test_block_conditionals_equal_the_model_on_the_block_masked_copy(wordlevel):
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer)
    encoded = tokenizer(
        ["the cat sat on the mat .", "a dog ran"], padding=True, return_tensors="pt"
    )
    tokens, attention = encoded["input_ids"], encoded["attention_mask"]
    block = torch.zeros_like(tokens, dtype=torch.bool)
    block[0, [2, 4, 5]] = True
    block[1, [1, 3]] = True
    before = energy.cost.snapshot()
    conditionals = masked_conditionals(energy, tokens, attention, block)
    assert (energy.cost - before).sequences == 2  # one copy per row, whatever the block size
    for row in range(2):
        copy = tokens[row : row + 1].masked_fill(block[row : row + 1], tokenizer.mask_token_id)
        n = int(attention[row].sum())
        with torch.no_grad():
            expected = model(input_ids=copy[:, :n]).logits[0]
        cols = block[row].nonzero().squeeze(1)
        got = conditionals.logits(torch.full_like(cols, row), cols)
        assert torch.allclose(got, expected[cols], atol=1e-4)


def test_token_terms_are_the_energy_terms(wordlevel):
    model, tokenizer = wordlevel
    logits = torch.randn(3, len(tokenizer), generator=torch.Generator().manual_seed(0))
    tokens = torch.tensor([7, 8, 9])
    norm = token_terms(MaskedLMEnergy(model, tokenizer, kind="norm"), logits, tokens)
    raw = token_terms(MaskedLMEnergy(model, tokenizer, kind="raw"), logits, tokens)
    assert torch.allclose(norm, -torch.log_softmax(logits, -1)[torch.arange(3), tokens])
    assert torch.allclose(raw, -logits[torch.arange(3), tokens])


def test_fill_masks_fills_every_free_mask_and_nothing_else(wordlevel):
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer)
    tokens = tokenizer(["the [MASK] sat [MASK] [MASK] ."], return_tensors="pt")["input_ids"]
    tokens = tokens.repeat(3, 1)
    free = tokens == tokenizer.mask_token_id
    banned = banned_tokens(tokenizer, len(tokenizer), torch.device("cpu"))
    filled, passes = fill_masks(
        energy,
        Proposal(),
        banned,
        tokens,
        torch.ones_like(tokens),
        free,
        torch.Generator().manual_seed(0),
    )
    assert passes == 3
    assert (filled[~free] == tokens[~free]).all()
    assert not banned[filled[free]].any()
