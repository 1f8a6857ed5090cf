"""Electric as the target of Metropolis-Hastings, with a masked LM proposing: exact on a toy.

The space is every 3-word sequence over the toy masked LM's 4 words (64 states). The target,
p(x) proportional to exp(-E(x) / tau) with E the Electric model's summed per-token energies, is
computed by a loop over the states that runs the model itself; the kernels' transition matrices
come from `eval.exact`, built from the kernels' own proposal and acceptance pieces.
"""

from __future__ import annotations

import pytest
import torch

from textebm.energies import ElectricEnergy, MaskedLMEnergy
from textebm.eval.exact import ExactSpace, stationary, toy_masked_lm, transition_matrix, tv_distance
from textebm.models import ElectricModel
from textebm.samplers import MetropolisHastings, from_lengths


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The toy's matrices (hidden size 32) gain nothing from threads; on a busy machine extra
    threads make these tests several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy():
    """The toy masked LM (the proposer) and an Electric model started from its encoder, with a
    fresh energy head (initialiser range 0.2, so energies vary by about a nat per token)."""
    mlm, tokenizer = toy_masked_lm(4, seed=2, init_scale=10.0)
    electric = ElectricModel.from_encoder(mlm, seed=5).eval()
    return mlm, electric, tokenizer


def naive_energies(electric, tokenizer, space: ExactSpace) -> torch.Tensor:
    """E(x) of every state, one model call per state, in the space's order: (N,) float64."""
    energies = []
    for state in space.states:
        words = space.word_ids[state].tolist()
        ids = [tokenizer.cls_token_id, *words, tokenizer.sep_token_id]
        with torch.no_grad():
            per_token = electric(input_ids=torch.tensor([ids])).energies[0]
        energies.append(float(per_token[1:-1].sum()))
    return torch.tensor(energies, dtype=torch.float64)


@pytest.fixture(scope="module")
def space_and_energies(toy):
    mlm, electric, tokenizer = toy
    space = ExactSpace(MaskedLMEnergy(mlm, tokenizer), 3)
    return space, naive_energies(electric, tokenizer, space)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_mh_with_an_electric_target_is_exact(toy, space_and_energies, tau):
    _, electric, tokenizer = toy
    space, energies = space_and_energies
    source = space.energy
    target_energy = ElectricEnergy(electric, tokenizer)
    target = torch.softmax(-energies / tau, dim=0)
    assert float(target.max() / target.min()) > 4  # far from uniform: a test that can fail
    for block in (1, 2):
        kernel = MetropolisHastings(target_energy, source=source, temperature=tau, block_size=block)
        matrix = transition_matrix(space, kernel)
        assert tv_distance(stationary(matrix), target) < 1e-6
        flow = target.unsqueeze(1) * matrix  # random scan MH is reversible: detailed balance
        assert torch.allclose(flow, flow.T, atol=1e-12)
    # The masked LM's own MH chain goes elsewhere: the Electric target is what is sampled.
    own = stationary(transition_matrix(space, MetropolisHastings(source, temperature=tau)))
    assert tv_distance(own, target) > 0.05


def test_electric_target_chains_carry_its_energy_at_one_pass_per_step(toy):
    mlm, electric, tokenizer = toy
    source = MaskedLMEnergy(mlm, tokenizer)
    target_energy = ElectricEnergy(electric, tokenizer)
    kernel = MetropolisHastings(target_energy, source=source)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(tokenizer, [3, 5, 4, 3]).astuple(), generator)
    moved = 0
    for _ in range(15):
        proposals, targets = source.cost.snapshot(), target_energy.cost.snapshot()
        state, info = kernel.step(generator, state)
        changed = int((info.proposal != state.tokens).any(dim=1).sum() + info.novel.sum())
        assert (source.cost - proposals).sequences == 4  # one proposal copy per chain
        # one Electric pass over the chains whose proposal differs from their current state
        assert (target_energy.cost - targets).sequences == changed
        moved += int(info.novel.sum())
    assert moved > 0
    fresh = target_energy(state.tokens, state.attention_mask)
    assert torch.allclose(state.energy, fresh.energy, atol=1e-5)
