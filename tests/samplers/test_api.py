"""`build_kernel`: proposals follow the (annealed) target unless their temperature is pinned."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.errors import UsageError
from textebm.samplers import MetropolisHastings, Proposal, SampleConfig, build_kernel, build_start


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel)


def test_a_proposal_without_temperature_follows_the_target():
    assert Proposal(top_k=5).at(0.3) == Proposal(0.3, 5)
    assert Proposal(2.0, top_p=0.9).at(0.3) == Proposal(2.0, top_p=0.9)
    logits = torch.tensor([[0.0, 1.0, 3.0]])
    none = torch.zeros(3, dtype=torch.bool)
    assert torch.equal(Proposal().log_probs(logits, none), Proposal(1.0).log_probs(logits, none))


@pytest.mark.parametrize("sampler", ["mh", "gibbs"])
@pytest.mark.parametrize(
    ("truncation", "pinned", "expected"),
    [({}, None, 0.3), ({"top_k": 5}, None, 0.3), ({"top_p": 0.9}, 1.5, 1.5), ({}, 1.5, 1.5)],
)
def test_kernels_from_a_config_anneal_their_proposals(
    energy, sampler, truncation, pinned, expected
):
    config = SampleConfig(
        length="4", sampler=sampler, temperature=2.0, proposal_temperature=pinned, **truncation
    )
    kernel = build_kernel(config, energy)
    assert kernel.tau == 2.0
    annealed = kernel.at_temperature(0.3)
    assert annealed.tau == 0.3 and annealed.proposal_config.temperature == expected
    assert annealed.proposal_config.top_k == config.top_k


def test_library_default_matches_the_config_kernel(energy):
    """The kernel the command builds is the library's default MH at the same settings."""
    kernel = build_kernel(SampleConfig(length="4", temperature=0.5), energy)
    default = MetropolisHastings(energy, temperature=0.5)
    for tau in (0.5, 0.1):
        assert (
            kernel.at_temperature(tau).proposal_config
            == default.at_temperature(tau).proposal_config
        )


def test_start_errors_name_the_flag(energy):
    with pytest.raises(UsageError, match="--block-size 9 is more than the 4 positions"):
        build_start(SampleConfig(length="4", block_size=9), energy)
    with pytest.raises(UsageError, match="--init: a fixed template"):
        build_start(SampleConfig(init="the cat", fixed=True), energy)
