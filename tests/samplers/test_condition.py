"""Conditioning: every kernel carries the state's condition unchanged and hands it, row for row,
to every call of its target."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import Condition, MaskedLMEnergy
from textebm.samplers import (
    DegenerateGibbs,
    MetropolisHastings,
    NaiveMH,
    SampleConfig,
    from_lengths,
    run_chains,
    sample,
)

LENGTHS = [6, 4, 5]  # distinct: a chain's length (attention-mask sum) says which chain a row is


class Recording:
    """A stand-in conditional energy: the masked LM's energy, and a log of the conditions it got.

    Its condition's labels are each chain's length in tokens (special tokens included), so every
    call can check that the rows of the condition line up with the rows of the tokens.
    """

    def __init__(self, inner: MaskedLMEnergy) -> None:
        self.inner = inner
        self.calls: list[Condition | None] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def __call__(self, input_ids, attention_mask=None, *, condition=None, **kwargs):
        self.calls.append(condition)
        if condition is not None:
            assert torch.equal(condition.labels, attention_mask.sum(dim=1).to(condition.labels))
        return self.inner(input_ids, attention_mask, **kwargs)


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel)


def _condition(tokenizer) -> Condition:
    start = from_lengths(tokenizer, LENGTHS)
    return Condition(labels=start.attention_mask.sum(dim=1))


def _kernels(energy, recording):
    return {
        "mh cached": MetropolisHastings(recording),
        "mh cached block": MetropolisHastings(recording, block_size=2),
        "mh other source": MetropolisHastings(recording, source=energy, block_size=2),
        "naive mh": NaiveMH(recording),
        "gibbs": DegenerateGibbs(recording, top_k=5),
    }


@pytest.mark.parametrize(
    "name", ["mh cached", "mh cached block", "mh other source", "naive mh", "gibbs"]
)
def test_each_kernel_carries_the_condition_and_hands_it_to_the_energy(wordlevel, energy, name):
    _, tokenizer = wordlevel
    recording = Recording(energy)
    kernel = _kernels(energy, recording)[name]
    condition = _condition(tokenizer)
    labels = condition.labels.clone()
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, LENGTHS).astuple(), generator, condition)
    assert state.condition is condition
    for _ in range(4):
        state, _ = kernel.step(generator, state)
        assert state.condition is condition
    samples = run_chains(kernel, state, generator, sweeps=2, progress=False)
    assert samples.state.condition is condition
    assert torch.equal(condition.labels, labels)  # never changed in place either
    assert recording.calls and all(c is not None for c in recording.calls)


def test_a_condition_leaves_the_chain_as_it_was(wordlevel, energy):
    """Same seed, with or without a condition the energy ignores: the same chain, bit for bit."""
    _, tokenizer = wordlevel
    runs = []
    for condition in (None, _condition(tokenizer)):
        kernel = MetropolisHastings(Recording(energy), block_size=2)
        generator = torch.Generator().manual_seed(3)
        state, _ = kernel.init(*from_lengths(tokenizer, LENGTHS).astuple(), generator, condition)
        runs.append(run_chains(kernel, state, generator, sweeps=3, progress=False))
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    assert torch.equal(runs[0].energies, runs[1].energies)


def test_an_unconditional_energy_rejects_a_condition(wordlevel, energy):
    _, tokenizer = wordlevel
    generator = torch.Generator().manual_seed(0)
    start = from_lengths(tokenizer, LENGTHS).astuple()
    with pytest.raises(ValueError, match="unconditional"):
        MetropolisHastings(energy).init(*start, generator, _condition(tokenizer))
    gibbs = DegenerateGibbs(energy)
    state, _ = gibbs.init(*start, generator, _condition(tokenizer))
    with pytest.raises(ValueError, match="unconditional"):
        gibbs.energy_of(state)


def test_sample_hands_the_condition_to_a_given_energy(energy):
    recording = Recording(energy)
    config = SampleConfig(length="4", chains=3, sweeps=2, burn_in=0, thin=1)
    # every chain is 4 + 2 tokens long, special tokens included
    result = sample(config, recording, Condition(labels=torch.full((3,), 6)), progress=False)
    assert len(result.records) == 6
    assert recording.calls and all(c is not None for c in recording.calls)
    with pytest.raises(Exception, match="give one per chain"):
        sample(config, recording, Condition(labels=torch.full((2,), 6)), progress=False)


def test_naive_mh_proposes_given_the_source_like_the_cached_kernel():
    """With a conditional masked LM as energy and proposer, the naive reference and the cached
    kernel make the same moves from the same draws: both propose given the source."""
    from textebm.energies import ConditionalMaskedLMEnergy
    from textebm.eval.exact import toy_cmlm

    model, tokenizer = toy_cmlm(4, seed=2, init_scale=10.0)
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    sources = ["red green blue", "pink pink red", "blue red"]
    ids = [tokenizer(s)["input_ids"] for s in sources]
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    condition = Condition(
        input_ids=torch.tensor([row + [pad] * (width - len(row)) for row in ids]),
        attention_mask=torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids]),
    )
    runs = []
    for kernel in (MetropolisHastings(energy), NaiveMH(energy)):
        generator = torch.Generator().manual_seed(0)
        start = from_lengths(tokenizer, [5, 4, 5])
        state, _ = kernel.init(*start.astuple(), generator, condition)
        for _ in range(15):
            state, _ = kernel.step(generator, state)
        runs.append(state.tokens)
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], start.tokens)  # the chains moved
