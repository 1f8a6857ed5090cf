"""Degenerate Gibbs and Mask-Predict."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.samplers import DegenerateGibbs, Proposal, from_lengths, mask_predict


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel)


def test_gibbs_always_accepts_at_one_sequence_per_chain(wordlevel, energy):
    _, tokenizer = wordlevel
    kernel = DegenerateGibbs(energy, temperature=0.8, top_k=10)
    generator = torch.Generator().manual_seed(0)
    state, passes = kernel.init(*from_lengths(tokenizer, [6, 4, 6]).astuple(), generator)
    assert passes == 6 and state.energy is None
    for _ in range(5):
        before, old = energy.cost.snapshot(), state.tokens
        state, info = kernel.step(generator, state)
        assert (energy.cost - before).sequences == 3
        assert info.accepted.all() and (info.acceptance == 1).all()
        assert torch.equal(info.novel, (state.tokens != old).any(dim=1))
        assert int(info.sites.sum()) == 3


def test_gibbs_draws_from_the_masked_conditional(wordlevel, energy):
    """top_k=1: the redrawn position holds the argmax of its masked conditional."""
    _, tokenizer = wordlevel
    kernel = DegenerateGibbs(energy, top_k=1)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, [5] * 4).astuple(), generator)
    new_state, info = kernel.step(generator, state)
    row, col = info.sites.nonzero(as_tuple=True)
    copies = state.tokens.clone()
    copies[row, col] = tokenizer.mask_token_id
    with torch.no_grad():
        logits = energy.model(input_ids=copies).logits[row, col]
    logits[:, tokenizer.all_special_ids] = -float("inf")
    assert torch.equal(new_state.tokens[row, col], logits.argmax(-1))


def test_mask_predict_argmax_by_hand(wordlevel, energy):
    """Iteration 0 is the argmax of the all-masked copy; iteration t re-predicts
    floor(N (T - t) / T) positions: N = 6, T = 3 -> 6, 4, 2."""
    _, tokenizer = wordlevel
    start = from_lengths(tokenizer, [6, 6])
    one = mask_predict(energy, *start.astuple(), iterations=1)
    with torch.no_grad():
        logits = energy.model(input_ids=start.tokens).logits
    logits[..., tokenizer.all_special_ids] = -float("inf")
    assert torch.equal(one.tokens[start.free], logits.argmax(-1)[start.free])
    before = energy.cost.snapshot()
    three = mask_predict(energy, *start.astuple(), iterations=3)
    assert three.masked == [12, 8, 4]
    assert (energy.cost - before).sequences == 2 * 3
    assert torch.equal(three.tokens[0], three.tokens[1])  # argmax: same length, same output
    assert len(three.history) == 3 and torch.equal(three.history[-1], three.tokens)
    assert not (three.tokens == tokenizer.mask_token_id).any()


def test_mask_predict_sampling_varies_and_repeats_with_the_seed(wordlevel, energy):
    _, tokenizer = wordlevel
    start = from_lengths(tokenizer, [6] * 4)
    runs = [
        mask_predict(
            energy,
            *start.astuple(),
            iterations=4,
            sample_tokens=True,
            proposal=Proposal(temperature=1.0),
            generator=torch.Generator().manual_seed(5),
        ).tokens
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    assert len({tuple(row.tolist()) for row in runs[0]}) > 1
    with pytest.raises(ValueError):
        mask_predict(energy, *start.astuple(), sample_tokens=True)
