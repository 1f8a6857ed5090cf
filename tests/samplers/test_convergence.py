"""R-hat by length group and the rule that runs chains until it is low, on a scripted kernel
whose energies the test chooses, and on the tiny masked LM."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.eval.mcmc import ess_bulk, rank_rhat, split_rhat
from textebm.samplers import MetropolisHastings, driver, from_lengths, run_chains
from textebm.samplers.convergence import StopRule
from textebm.samplers.state import ChainState, StepInfo


class Scripted:
    """A kernel whose energy after step t is `table[t]` (one step per sweep: one free position).
    It draws a random number per step, as real kernels do, so a check that drew any would
    shift the generator and show."""

    block_size = 1
    energy = None
    tau = 1.0

    def __init__(self, table: torch.Tensor):
        self.table = table  # (steps, chains)

    def at_temperature(self, temperature: float) -> Scripted:
        return self

    def energy_of(self, state: ChainState) -> torch.Tensor:
        return state.energy

    def step(self, generator, state):
        torch.rand(1, generator=generator)
        ones = torch.ones(state.tokens.shape[0], dtype=torch.bool)
        info = StepInfo(state.free, state.tokens, ones.float(), ones, ones, ones.float())
        return state.replace(energy=self.table[state.step], step=state.step + 1), info


def _state(lengths: list[int]) -> ChainState:
    """Chains whose real tokens number `lengths`, one free position each."""
    width = max(lengths)
    mask = (torch.arange(width) < torch.tensor(lengths).unsqueeze(1)).long()
    free = torch.zeros_like(mask, dtype=torch.bool)
    free[:, 0] = True
    return ChainState(torch.zeros_like(mask), mask, free)


def _mixing(steps: int, seed: int = 0) -> torch.Tensor:
    """(steps, 4) energies: chains 0, 1 (length 3) start apart around 10, chains 2, 3 (length
    5) around 30; the offsets decay (at different rates), so each group's R-hat falls."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float32).unsqueeze(1)
    offsets = torch.tensor([[3.0, -3.0, 4.0, -4.0]]) * torch.exp(
        -t / torch.tensor([5.0] * 2 + [10.0] * 2)
    )
    noise = torch.randn(steps, 4, generator=generator)
    return torch.tensor([10.0, 10.0, 30.0, 30.0]) + offsets + noise


def _run(table, lengths, sweeps, burn_in, rule, thin=1):
    generator = torch.Generator().manual_seed(0)
    samples = run_chains(
        Scripted(table),
        _state(lengths),
        generator,
        sweeps,
        burn_in,
        thin,
        progress=False,
        stop=rule,
    )
    return samples, generator


def _worst_direct(table: torch.Tensor, burn_in: int, done: int) -> float:
    """Split R-hat of each length group computed directly; the highest."""
    post = table[burn_in : burn_in + done].T
    return max(split_rhat(post[[0, 1]]), split_rhat(post[[2, 3]]))


def test_stops_at_the_first_check_where_every_group_is_below_the_threshold():
    table, burn_in, minimum, every, threshold = _mixing(400), 5, 20, 10, 1.05
    rule = StopRule(threshold, check_every=every, max_sweeps=300)
    samples, _ = _run(table, [3, 3, 5, 5], minimum, burn_in, rule)
    due = range(minimum, 301, every)
    expected = next(k for k in due if _worst_direct(table, burn_in, k) <= threshold)
    assert expected > minimum  # not trivially at the first check: it crossed
    assert _worst_direct(table, burn_in, expected - every) > threshold
    stopping = samples.diagnostics["stopping"]
    assert stopping["stopped_by"] == "converged" and stopping["converged"]
    assert stopping["sweeps"] == samples.diagnostics["sweeps"] == expected
    assert stopping["min_sweeps"] == minimum
    assert [c["sweep"] for c in stopping["checks"]] == list(range(minimum, expected + 1, every))
    assert stopping["checks"][-1]["worst_split_rhat"] == pytest.approx(
        _worst_direct(table, burn_in, expected)
    )
    assert samples.trace.shape == (burn_in + expected, 4)
    assert samples.diagnostics["energy_worst_length"]["split_rhat"] <= threshold


def test_the_check_draws_no_random_numbers():
    """A run that stopped at sweep k equals a plain run of k sweeps, generator state included."""
    table = _mixing(400)
    stopped, after_stopped = _run(table, [3, 3, 5, 5], 20, 5, StopRule(1.05, 10, 300))
    k = stopped.diagnostics["sweeps"]
    plain, after_plain = _run(table, [3, 3, 5, 5], k, 5, None)
    assert torch.equal(stopped.trace, plain.trace)
    assert torch.equal(after_stopped.get_state(), after_plain.get_state())


def test_chains_collapsed_onto_one_energy_have_converged():
    """Chains of a length that all sit on one energy (a cold chain's mode) stop the rule; chains
    stuck on different energies do not (R-hat inf, not NaN: the check says which group)."""
    table = _mixing(400)
    table[:, 2:] = 30.0  # length 5: both chains constant and equal
    samples, _ = _run(table, [3, 3, 5, 5], 20, 5, StopRule(1.05, 10, max_sweeps=300))
    assert samples.diagnostics["stopping"]["stopped_by"] == "converged"
    table[:, 3] = 31.0  # now stuck apart
    samples, _ = _run(table, [3, 3, 5, 5], 20, 5, StopRule(1.05, 10, max_sweeps=60))
    assert samples.diagnostics["stopping"]["stopped_by"] == "max_sweeps"


def test_the_sweep_cap_comes_first():
    table = _mixing(400) + torch.tensor([0.0, 5.0, 0.0, 0.0])  # chain 1 stays apart
    samples, _ = _run(table, [3, 3, 5, 5], 20, 5, StopRule(1.05, 10, max_sweeps=55), thin=10)
    stopping = samples.diagnostics["stopping"]
    assert stopping["stopped_by"] == "max_sweeps" and not stopping["converged"]
    assert stopping["sweeps"] == 55 and samples.trace.shape == (60, 4)
    assert [c["sweep"] for c in stopping["checks"]] == [20, 30, 40, 50]
    assert samples.sweeps == [15, 25, 35, 45, 55]


def test_the_time_budget_comes_first(monkeypatch):
    """A clock that advances a minute per reading: once at the start, once per sweep (burn-in
    included), so after burn-in b and k sweeps it reads b + k minutes."""
    readings = iter(range(0, 10_000, 60))
    monkeypatch.setattr(driver, "_clock", lambda: next(readings))
    table = _mixing(400) + torch.tensor([0.0, 5.0, 0.0, 0.0])
    samples, _ = _run(table, [3, 3, 5, 5], 5, 2, StopRule(1.05, 10, time_budget=7.5))
    assert samples.diagnostics["stopping"]["stopped_by"] == "time_budget"
    assert samples.diagnostics["sweeps"] == 6  # 2 + 6 = 8 minutes >= 7.5; 2 + 5 = 7 < 7.5
    # the minimum always runs, even past the budget
    readings = iter(range(0, 10_000, 60))
    samples, _ = _run(table, [3, 3, 5, 5], 20, 2, StopRule(1.05, 10, time_budget=7.5))
    assert samples.diagnostics["sweeps"] == 20


def test_groups_by_length_against_a_direct_computation():
    generator = torch.Generator().manual_seed(3)
    table = torch.randn(30, 5, generator=generator) + torch.tensor([0.0, 20.0, 0.5, 20.5, 50.0])
    burn_in = 4
    samples, _ = _run(table, [3, 5, 3, 5, 4], 26, burn_in, None)
    post = table[burn_in:].T
    groups = samples.diagnostics["energy_by_length"]
    assert [(g["length"], g["chains"]) for g in groups] == [(3, 2), (4, 1), (5, 2)]
    for group, chains in zip((groups[0], groups[2]), ([0, 2], [1, 3]), strict=True):
        assert group["split_rhat"] == pytest.approx(split_rhat(post[chains]))
        assert group["rhat"] == pytest.approx(rank_rhat(post[chains]))
        assert group["ess_bulk"] == pytest.approx(ess_bulk(post[chains]))
    assert groups[1]["split_rhat"] is None and groups[1]["rhat"] is None  # one chain: no R-hat
    assert groups[1]["ess_bulk"] == pytest.approx(ess_bulk(post[[4]]))
    worst = max((groups[0], groups[2]), key=lambda g: g["split_rhat"])
    assert samples.diagnostics["energy_worst_length"] == worst
    # all chains together mix lengths: the pooled R-hat is far above every group's
    assert samples.diagnostics["energy_split_rhat"] > 3 * worst["split_rhat"]


def test_group_rhat_matches_arviz():
    az = pytest.importorskip("arviz")
    generator = torch.Generator().manual_seed(5)
    table = torch.randn(40, 4, generator=generator, dtype=torch.float64).cumsum(0)
    samples, _ = _run(table, [6, 6, 6, 2], 40, 0, None)
    group = samples.diagnostics["energy_by_length"][1]
    draws = table.float().double().T[:3].numpy()
    assert group["length"] == 6
    assert group["split_rhat"] == pytest.approx(float(az.rhat(draws, method="split")), rel=1e-5)
    assert group["ess_bulk"] == pytest.approx(float(az.ess(draws, method="bulk")), rel=1e-5)


def test_bad_rules_and_groups_are_refused():
    for kwargs, message in [
        ({"until_rhat": 1.0, "max_sweeps": 10}, "more than 1"),
        ({"until_rhat": 1.1}, "needs a cap"),
        ({"until_rhat": 1.1, "max_sweeps": 10, "check_every": 0}, "check_every"),
        ({"until_rhat": 1.1, "time_budget": 0.0}, "time_budget"),
    ]:
        with pytest.raises(ValueError, match=message):
            StopRule(**kwargs)
    table = _mixing(50)
    with pytest.raises(ValueError, match="less than the minimum"):
        _run(table, [3, 3, 5, 5], 20, 0, StopRule(1.1, max_sweeps=10))
    with pytest.raises(ValueError, match=r"\[5\] have one"):
        _run(table, [3, 3, 3, 5], 20, 0, StopRule(1.1, max_sweeps=30))


def test_a_real_kernel_stops_deterministically(wordlevel):
    model, tokenizer = wordlevel
    kernel = MetropolisHastings(MaskedLMEnergy(model, tokenizer))
    runs = []
    for rule_sweeps in ((4, StopRule(1.3, check_every=2, max_sweeps=16)), None):
        generator = torch.Generator().manual_seed(0)
        state, _ = kernel.init(*from_lengths(tokenizer, [3, 4, 3, 4]).astuple(), generator)
        sweeps, rule = rule_sweeps if rule_sweeps else (runs[0].diagnostics["sweeps"], None)
        runs.append(run_chains(kernel, state, generator, sweeps, 2, progress=False, stop=rule))
    assert runs[0].diagnostics["stopping"]["stopped_by"] in ("converged", "max_sweeps")
    assert torch.equal(runs[0].trace, runs[1].trace)
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    assert [g["length"] for g in runs[0].diagnostics["energy_by_length"]] == [5, 6]
    assert not math.isnan(runs[0].diagnostics["energy_by_length"][0]["ess_bulk"])
