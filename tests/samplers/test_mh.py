"""Metropolis-Hastings: the acceptance ratio by hand, caching against the straightforward
implementation, sequences per step, conditioning, truncation, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.samplers import (
    DegenerateGibbs,
    MetropolisHastings,
    NaiveMH,
    Proposal,
    from_lengths,
    from_text,
    log_acceptance,
    run_chains,
)


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel, kind="raw")


def _start(kernel, tokenizer, lengths, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state, _ = kernel.init(*from_lengths(tokenizer, lengths).astuple(), generator)
    return state, generator


def test_log_acceptance_by_hand():
    """E(x) = 5, E(x') = 3 at tau = 2: the energy term is +1 (lower energy is better);
    q(x|x') = 0.2, q(x'|x) = 0.4: log 0.5. log a = 1 + log 0.5 = 0.3069."""
    got = log_acceptance(
        torch.tensor([5.0]),
        torch.tensor([3.0]),
        torch.tensor([math.log(0.4)]),
        torch.tensor([math.log(0.2)]),
        2.0,
    )
    assert float(got) == pytest.approx(1 + math.log(0.5))
    impossible = log_acceptance(
        torch.tensor([5.0]),
        torch.tensor([3.0]),
        torch.tensor([0.0]),
        torch.tensor([-math.inf]),
        1.0,
    )
    assert float(impossible) == -math.inf


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"block_size": 2},
        {"block_size": 3, "layout": "scattered"},
        {"scan": "systematic", "temperature": 0.7},
        {"proposal": Proposal(temperature=1.5, top_k=20, top_p=0.95)},
    ],
)
def test_cached_chain_equals_the_straightforward_one(wordlevel, energy, settings):
    """Same generator seed, same draws: caching changes the cost, never the chain."""
    _, tokenizer = wordlevel
    cached = MetropolisHastings(energy, **settings)
    naive = NaiveMH(energy, **settings)
    other_source = MetropolisHastings(
        energy, source=MaskedLMEnergy(*wordlevel, kind="raw"), **settings
    )
    runs = []
    for kernel in (cached, naive, other_source):
        state, generator = _start(kernel, tokenizer, [6, 4, 6, 5])
        for _ in range(12):
            state, _ = kernel.step(generator, state)
        runs.append((state.tokens, state.energy))
    for tokens, energies in runs[1:]:
        assert torch.equal(tokens, runs[0][0])
        assert torch.allclose(energies, runs[0][1], atol=1e-4)


def test_cache_stays_exact(wordlevel, energy):
    """After many steps the carried E(x) and every position's cached copy equal a fresh pass."""
    _, tokenizer = wordlevel
    for kernel in (MetropolisHastings(energy), MetropolisHastings(energy, block_size=2)):
        state, generator = _start(kernel, tokenizer, [7, 5, 7])
        accepted = 0
        for _ in range(20):
            state, info = kernel.step(generator, state)
            accepted += int(info.novel.sum())
        assert accepted > 0
        fresh = energy(state.tokens, state.attention_mask, return_conditionals=True)
        assert torch.allclose(state.energy, fresh.energy, atol=1e-4)
        scored = fresh.scored
        assert torch.allclose(state.hidden[scored], fresh.conditionals.hidden[scored], atol=1e-5)


def test_single_site_step_needs_at_most_t_minus_1_sequences(wordlevel, energy):
    """Exactly T - 1 new sequences per chain whose proposal differs from its current token, none
    for the others; a block step at most T + 1; the straightforward step 2T + 1."""
    _, tokenizer = wordlevel
    chains, length = 5, 8
    kernel = MetropolisHastings(energy, proposal=Proposal(top_k=3))  # often proposes x_i again
    state, generator = _start(kernel, tokenizer, [length] * chains)
    unchanged = 0
    for _ in range(10):
        before, old = energy.cost.snapshot(), state.tokens
        state, info = kernel.step(generator, state)
        moved = int((info.proposal != old).any(dim=1).sum())
        unchanged += chains - moved
        assert (energy.cost - before).sequences == moved * (length - 1) <= chains * length
    assert unchanged > 0
    before = energy.cost.snapshot()
    MetropolisHastings(energy, block_size=3).step(generator, state)
    assert (energy.cost - before).sequences <= chains * (length + 1)
    before = energy.cost.snapshot()
    NaiveMH(energy).step(generator, state)
    assert (energy.cost - before).sequences == chains * (2 * length + 1)


def test_truncated_proposals_cannot_return_to_a_token_outside_them(wordlevel, energy):
    """A current token outside its own top-1 set has q(x|x') = 0: log a = -inf, rejected."""
    _, tokenizer = wordlevel
    plain = MetropolisHastings(energy)
    state, generator = _start(plain, tokenizer, [5] * 16)
    kernel = MetropolisHastings(energy, proposal=Proposal(top_k=1))
    new_state, info = kernel.step(generator, state)
    moved = (info.proposal != state.tokens).any(dim=1)
    assert moved.any()
    assert (info.log_ratio[moved] == -math.inf).all()
    assert not info.accepted[moved].any()
    assert torch.equal(new_state.tokens, state.tokens)


def test_special_tokens_are_never_proposed(wordlevel, energy):
    model, tokenizer = wordlevel
    special = torch.tensor(tokenizer.all_special_ids)
    with torch.no_grad():  # make [UNK] the most likely token everywhere
        bias = model.get_output_embeddings().bias
        saved = bias.clone()
        bias[tokenizer.unk_token_id] = 100.0
    try:
        for kernel in (MetropolisHastings(energy), DegenerateGibbs(energy)):
            state, generator = _start(kernel, tokenizer, [6] * 4)
            for _ in range(6):
                state, info = kernel.step(generator, state)
                inside = state.attention_mask.bool() & state.free
                assert not torch.isin(info.proposal[inside], special).any()
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def test_fixed_positions_and_padding_never_change(wordlevel, energy):
    _, tokenizer = wordlevel
    start = from_text(tokenizer, "the [MASK] sat on the [MASK] .", chains=4, fixed=True)
    kernel = MetropolisHastings(energy, block_size=2, layout="scattered")
    generator = torch.Generator().manual_seed(1)
    state, passes = kernel.init(*start.astuple(), generator)
    assert passes == 2
    samples = run_chains(kernel, state, generator, sweeps=5, progress=False)
    for tokens in samples.tokens:
        assert torch.equal(tokens[~start.free], start.tokens[~start.free])
        assert not (tokens == tokenizer.mask_token_id).any()
    prefix = from_lengths(tokenizer, [4, 7, 5], prefix="the cat")
    state, _ = kernel.init(*prefix.astuple(), generator)
    samples = run_chains(kernel, state, generator, sweeps=3, progress=False)
    assert torch.equal(samples.tokens[-1][~prefix.free], prefix.tokens[~prefix.free])
    assert samples.tokens[-1][0, 1:3].tolist() == tokenizer("the cat")["input_ids"][1:3]


def test_same_seed_same_chain_and_global_rng_untouched(wordlevel, energy):
    _, tokenizer = wordlevel
    rng = torch.random.get_rng_state()
    results = []
    for seed in (3, 3, 4):
        kernel = MetropolisHastings(energy)
        state, generator = _start(kernel, tokenizer, [5] * 3, seed=seed)
        results.append(run_chains(kernel, state, generator, sweeps=3, progress=False).tokens)
    assert torch.equal(results[0], results[1])
    assert not torch.equal(results[0], results[2])
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_bad_kernel_settings_are_refused(energy):
    for bad in ({"scan": "spiral"}, {"layout": "nope"}, {"block_size": 0}, {"temperature": 0}):
        with pytest.raises(ValueError):
            MetropolisHastings(energy, **bad)
