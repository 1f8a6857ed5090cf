"""The chain loop: burn-in, thinning, annealing, diagnostics; and where chains start."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.samplers import (
    DegenerateGibbs,
    MetropolisHastings,
    from_lengths,
    from_text,
    geometric_schedule,
    run_chains,
)


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel)


@pytest.mark.parametrize("kernel_type", [MetropolisHastings, DegenerateGibbs])
def test_burn_in_thinning_and_diagnostics(wordlevel, energy, kernel_type, monkeypatch):
    monkeypatch.setenv("CI", "1")
    _, tokenizer = wordlevel
    kernel = kernel_type(energy)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, [5, 3, 5]).astuple(), generator)
    samples = run_chains(kernel, state, generator, sweeps=9, burn_in=4, thin=3)
    assert samples.sweeps == [7, 10, 13]
    assert samples.tokens.shape == (3, 3, 7) and samples.energies.shape == (3, 3)
    assert samples.trace.shape == (13, 3)
    assert torch.equal(samples.energies, samples.trace[[6, 9, 12]])
    fresh = energy(samples.tokens[-1], state.attention_mask).energy
    assert torch.allclose(samples.energies[-1], fresh, atol=1e-4)
    d = samples.diagnostics
    assert d["steps_per_sweep"] == 5
    assert 0 < d["novel_transition_rate"] <= d["acceptance_rate"] <= 1
    assert len(d["acceptance_rate_per_chain"]) == 3
    assert d["energy_ess_bulk"] > 0 and d["energy_rhat"] > 0.5
    assert d["cost"]["sequences"] > 0
    assert samples.tokens[-1][1, 4:].tolist() == state.tokens[1, 4:].tolist()  # [SEP] + padding


def test_thinning_past_the_end_keeps_nothing(wordlevel, energy):
    _, tokenizer = wordlevel
    kernel = MetropolisHastings(energy)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, [4, 3]).astuple(), generator)
    samples = run_chains(kernel, state, generator, sweeps=2, thin=5, progress=False)
    assert samples.tokens.shape == (0, 2, 6) and samples.energies.shape == (0, 2)
    assert samples.sweeps == [] and samples.trace.shape == (2, 2)


def test_annealing_follows_the_schedule(wordlevel, energy):
    _, tokenizer = wordlevel
    seen = []

    class Recording(MetropolisHastings):
        def at_temperature(self, temperature):
            seen.append(temperature)
            return super().at_temperature(temperature)

    kernel = Recording(energy)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, [4]).astuple(), generator)
    schedule = geometric_schedule(2.0, 0.5, 5)
    samples = run_chains(
        kernel, state, generator, sweeps=3, burn_in=2, schedule=schedule, progress=False
    )
    assert seen == pytest.approx([2.0, 2.0 * 0.25**0.25, 1.0, 2.0 * 0.25**0.75, 0.5])
    assert samples.diagnostics["temperature"] == {"first": 2.0, "last": 0.5}


def test_starts(wordlevel):
    _, tokenizer = wordlevel
    mask, cls, sep = tokenizer.mask_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id
    start = from_lengths(tokenizer, [3, 1])
    assert start.tokens.tolist() == [[cls, mask, mask, mask, sep], [cls, mask, sep, 0, 0]]
    assert start.free.tolist()[1] == [False, True, False, False, False]
    prefixed = from_lengths(tokenizer, [4], prefix="the cat")
    assert prefixed.free.tolist() == [[False, False, False, True, True, False]]
    template = from_text(tokenizer, "the [MASK] sat", chains=2, fixed=True)
    assert template.free.tolist() == [[False, False, True, False, False]] * 2
    loose = from_text(tokenizer, "the zebra sat", chains=1)  # zebra: [UNK] -> filled first
    assert loose.tokens[0, 2] == mask and loose.free[0, 1:4].all()
    with pytest.raises(ValueError, match="at least one"):
        from_text(tokenizer, "the cat sat", chains=1, fixed=True)
    with pytest.raises(ValueError, match="nothing to sample"):
        from_lengths(tokenizer, [2], prefix="the cat")
