"""Exactness: MH's stationary distribution is the target; degenerate Gibbs' is not.

The toy BERT (4 or 6 words, 2 layers, hidden 32) has its initialisation scaled 10x (0.2 instead
of 0.02): at BERT's default scale its masked conditionals are almost consistent and degenerate
Gibbs is off by ~1e-4 only; at 10x it is off by 0.13-0.22 on these spaces.
"""

from __future__ import annotations

import math

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.eval.exact import (
    ExactSpace,
    block_matrices,
    class_stationaries,
    closed_classes,
    combine,
    detailed_balance_violation,
    empirical,
    restricted,
    sampling_noise_tv,
    stationary,
    toy_masked_lm,
    transition_matrix,
    tv_distance,
)
from textebm.eval.verify import VerifyConfig, format_table, one_thread, sampled_rows, verify
from textebm.samplers import DegenerateGibbs, MetropolisHastings, Proposal


@pytest.fixture(scope="module")
def toy():
    return toy_masked_lm(4, seed=2, init_scale=10.0)


def test_target_by_enumeration(toy):
    """p(x) = exp(-E/tau)/Z over all 4^3 states, E from the energy; tau sharpens it."""
    model, tokenizer = toy
    for kind in ("norm", "raw"):
        space = ExactSpace(MaskedLMEnergy(model, tokenizer, kind=kind), 3)
        assert space.n == 64
        energies = space.energies()
        text = tokenizer.decode(space.word_ids[space.states[5]].tolist())
        assert float(energies[5]) == pytest.approx(
            MaskedLMEnergy(model, tokenizer, kind=kind).score_texts([text])[0].energy, abs=1e-4
        )
        for tau in (1.0, 0.5):
            target = space.target(tau)
            assert float(target.sum()) == pytest.approx(1.0)
            ratio = math.log(target[0] / target[1])
            assert ratio == pytest.approx(float(energies[1] - energies[0]) / tau, abs=1e-6)


@pytest.mark.parametrize(("kind", "tau"), [("norm", 1.0), ("raw", 1.0), ("raw", 0.5)])
def test_exact_stationary_distributions(toy, kind, tau):
    energy = MaskedLMEnergy(*toy, kind=kind)
    space = ExactSpace(energy, 3)
    target = space.target(tau)
    kernels = [
        (MetropolisHastings(energy, temperature=tau), False),
        (MetropolisHastings(energy, temperature=tau), True),
        (MetropolisHastings(energy, temperature=tau, block_size=2), False),
        (MetropolisHastings(energy, temperature=tau, block_size=2, layout="scattered"), False),
    ]
    for kernel, systematic in kernels:
        matrix = transition_matrix(space, kernel, systematic)
        assert torch.allclose(matrix.sum(dim=1), torch.ones(64, dtype=torch.float64))
        assert tv_distance(stationary(matrix), target) < 1e-6
        if not systematic:  # random scan MH is reversible: detailed balance
            flow = target.unsqueeze(1) * matrix
            assert torch.allclose(flow, flow.T, atol=1e-12)
    gibbs = stationary(transition_matrix(space, DegenerateGibbs(energy, temperature=tau)))
    assert tv_distance(gibbs, target) > 0.1


def test_default_scale_gibbs_is_nearly_exact():
    """Why the toy's initialisation is scaled: at BERT's default the bias is tiny."""
    energy = MaskedLMEnergy(*toy_masked_lm(4, seed=2, init_scale=1.0))
    space = ExactSpace(energy, 3)
    gibbs = stationary(transition_matrix(space, DegenerateGibbs(energy)))
    assert tv_distance(gibbs, space.target(1.0)) < 1e-3


def test_samplers_on_64_states():
    """The real kernels and driver, 256 chains x 100 kept sweeps = 25,600 samples (energy ESS
    about 10^4): MH within 0.03 of the target in TV, degenerate Gibbs well outside."""
    config = VerifyConfig(sample_targets=(("norm", 1.0, 100),))
    with one_thread():
        rows = sampled_rows(config)
    print(format_table(rows))
    assert [row.samples for row in rows] == [25600] * 3
    assert all(row.passed for row in rows)
    mh, block, gibbs = (row.tv for row in rows)
    assert mh <= 0.03 and block <= 0.03 and gibbs > 0.1
    assert not any(row.widened for row in rows)  # enough samples: the bound stays 0.03


def test_sampling_noise_tv_is_the_mean_tv_of_independent_draws():
    """Against simulation: 2,000 empirical distributions of n draws from a 64-state law."""
    law = torch.softmax(torch.randn(64, generator=torch.Generator().manual_seed(0)), 0).double()
    generator = torch.Generator().manual_seed(1)
    for n in (400, 5000):
        draws = torch.multinomial(law.expand(2000, 64), n, replacement=True, generator=generator)
        counts = torch.zeros(2000, 64, dtype=torch.float64).scatter_add_(
            1, draws, torch.ones_like(draws, dtype=torch.float64)
        )
        simulated = 0.5 * (counts / n - law).abs().sum(dim=1).mean()
        assert abs(sampling_noise_tv(law, n) / float(simulated) - 1) < 0.05
    assert sampling_noise_tv(law, 4 * 400) == pytest.approx(sampling_noise_tv(law, 400) / 2)


def test_few_samples_widen_the_sampled_bound():
    """Chance alone shows far more than 0.03 of TV in few samples, so the bound widens to 1.5x
    the noise level of the independent draws: the ESS(E) of 32 chains x 50 sweeps (MH passes,
    Gibbs is still told apart), or only the 8 chains when 4 sweeps are too few for an ESS."""
    with one_thread():
        rows = sampled_rows(VerifyConfig(sample_targets=(("norm", 1.0, 50),), chains=32))
        few = sampled_rows(VerifyConfig(sample_targets=(("norm", 1.0, 4),), chains=8))
    table = format_table(rows)
    assert all(row.widened and 0.03 < row.tolerance < 0.2 for row in rows), table
    assert all(row.passed for row in rows), table  # MH within, Gibbs beyond the wider bound
    assert "too few effective samples" in table and f"<= {rows[0].tolerance:.3g}" in table
    assert all(row.tolerance > 1 for row in few)  # 8 draws: no bound at all
    assert [row.passed for row in few] == [True, True, False]  # Gibbs not told apart


def test_empirical_counts_states(toy):
    energy = MaskedLMEnergy(*toy)
    space = ExactSpace(energy, 3)
    tokens = space.tokens[[0, 0, 5, 63]]
    got = empirical(space, tokens)
    assert got[0] == 0.5 and got[5] == 0.25 and got[63] == 0.25
    with pytest.raises(ValueError, match="outside the space"):
        empirical(space, torch.full_like(tokens, toy[1].mask_token_id))


@pytest.mark.slow
def test_full_verify_table():
    """What `textebm verify` prints: 1,296-state exact checks for norm, raw and tau = 0.5, and
    sampled checks on 64 states for norm (tau 1, 25,600 samples) and raw (tau 0.5, 51,200)."""
    rows = verify()
    print(format_table(rows))
    assert len(rows) == 15 + 2 + 8 + 6  # exact masked-LM, Electric target, conditional; sampled
    assert all(row.classes == 1 for row in rows)  # untruncated: every chain reaches every state
    assert all(row.passed for row in rows), format_table(rows)


class TableEnergy:
    """Any energy, not a masked LM's: E(x) looked up in a random table over the 64 states (what
    an Electric or classifier energy will be to the sampler: a number per sequence, no
    conditionals)."""

    def __init__(self, space: ExactSpace, seed: int = 0) -> None:
        from textebm.energies import Cost

        generator = torch.Generator().manual_seed(seed)
        self.table = 2.0 * torch.randn(space.n, generator=generator)
        self.space, self.temperature, self.cost = space, 1.0, Cost()

    def __call__(self, input_ids, attention_mask=None):
        from textebm.energies import EnergyOutput

        lookup = {int(w): i for i, w in enumerate(self.space.word_ids)}
        words = torch.tensor([[lookup[int(t)] for t in row[1:-1]] for row in input_ids])
        self.cost.add(sequences=len(input_ids), tokens=input_ids.numel())
        return EnergyOutput(energy=self.table[self.space.index(words)])


def test_any_energy_can_be_the_target(toy):
    """MH with the masked LM proposing and a foreign energy as the target: exact stationary
    distribution, and the sampler's own chain uses one proposal copy per step."""
    from textebm.samplers import from_lengths

    source = MaskedLMEnergy(*toy)
    space = ExactSpace(source, 3)
    target_energy = TableEnergy(space)
    target = torch.softmax(-target_energy.table.double(), dim=0)
    for block in (1, 2):
        kernel = MetropolisHastings(target_energy, source=source, block_size=block)
        assert tv_distance(stationary(transition_matrix(space, kernel)), target) < 1e-6
    kernel = MetropolisHastings(target_energy, source=source)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*from_lengths(toy[1], [3] * 8).astuple(), generator)
    before = source.cost.snapshot()
    state, _ = kernel.step(generator, state)
    assert (source.cost - before).sequences == 8
    assert torch.equal(state.energy, target_energy(state.tokens).energy)


def test_truncated_matrix_matches_a_naive_loop(toy):
    """Top-k 2 single-site MH, entry by entry against a loop over states and positions that
    masks each position itself, keeps the 2 most probable words and computes
    q_f * min(1, exp(-(E' - E)) q_r / q_f) / L. A move outside the top 2 in either direction is
    impossible: 0, where the matrix used to hold NaN."""
    energy = MaskedLMEnergy(*toy)
    space = ExactSpace(energy, 3)
    kernel = MetropolisHastings(energy, proposal=Proposal(top_k=2))
    matrix = transition_matrix(space, kernel)
    assert not torch.isnan(matrix).any()
    energies = space.energies()
    model, tokenizer = toy
    for i in (0, 5, 27, 63):
        naive = torch.zeros(space.n, dtype=torch.float64)
        for position in range(3):
            tokens = space.tokens[i : i + 1].clone()
            tokens[0, position + 1] = tokenizer.mask_token_id
            with torch.no_grad():
                logits = model(input_ids=tokens).logits[0, position + 1, space.word_ids].double()
            kept = torch.topk(logits, 2).indices
            q = torch.zeros(space.V, dtype=torch.float64)
            q[kept] = torch.softmax(logits[kept], dim=0)
            current = int(space.states[i, position])
            for word in range(space.V):
                if word == current or q[word] == 0 or q[current] == 0:
                    continue
                state = space.states[i].clone()
                state[position] = word
                j = int(space.index(state))
                ratio = torch.exp(energies[i] - energies[j]) * q[current] / q[word]
                naive[j] += q[word] * min(1.0, float(ratio)) / 3
        off = torch.ones(space.n, dtype=torch.bool)
        off[i] = False
        assert torch.allclose(matrix[i, off], naive[off], atol=1e-6), i
        assert float(matrix[i].sum()) == pytest.approx(1.0)
    assert (matrix == 0).sum() > (transition_matrix(space, MetropolisHastings(energy)) == 0).sum()


@pytest.mark.parametrize(
    "proposal", [Proposal(top_k=2), Proposal(top_p=0.8), Proposal(temperature=2.0)]
)
def test_truncated_mh_is_exact_on_every_closed_class(toy, proposal):
    """Each closed class's stationary distribution is the target restricted to it, every step
    satisfies detailed balance, and every state is in a closed class (MH moves go both ways)."""
    energy = MaskedLMEnergy(*toy)
    space = ExactSpace(energy, 3)
    target = space.target(1.0)
    for block in (1, 2):
        kernel = MetropolisHastings(energy, proposal=proposal, block_size=block)
        matrices = block_matrices(space, kernel)
        matrix = combine(matrices)
        classes = closed_classes(matrix)
        assert sum(len(c) for c in classes) == space.n
        if proposal.truncated:
            assert len(classes) > 1
        for pi, states in zip(class_stationaries(matrix, classes), classes, strict=True):
            assert tv_distance(pi, restricted(target, states)) < 1e-9
        assert max(detailed_balance_violation(m, target) for m in matrices) < 1e-9
    gibbs = transition_matrix(space, DegenerateGibbs(energy, top_k=2))
    assert not torch.isnan(gibbs).any()
    assert detailed_balance_violation(gibbs, target) > 0.5
