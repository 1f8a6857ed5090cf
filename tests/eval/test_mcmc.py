"""ESS and R-hat: a hand-computed case, known theory, and ArviZ 0.x when it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textebm.eval.mcmc import ess_bulk, ess_mean, rank_rhat, split_rhat


def test_split_rhat_by_hand():
    """[[1,2,3,4],[2,3,4,5]] splits into [1,2],[3,4],[2,3],[4,5]: chain means 1.5, 3.5, 2.5,
    4.5 (variance 5/3, so B = 2 * 5/3), within-chain variances 0.5 (W = 0.5);
    R = sqrt((B/W + n - 1) / n) = sqrt((20/3 + 1) / 2) = sqrt(23/6)."""
    draws = torch.tensor([[1.0, 2, 3, 4], [2.0, 3, 4, 5]])
    assert split_rhat(draws) == pytest.approx(math.sqrt(23 / 6))


def test_ranks_break_ties_by_averaging():
    """Ties get the average rank: with all values equal, rank-normalised chains are constant."""
    draws = torch.tensor([[1.0, 1, 2, 2], [1.0, 2, 1, 2]])
    assert math.isfinite(rank_rhat(draws))
    assert ess_bulk(torch.ones(3, 10)) == 30  # constant draws: every draw counts


def _ar1(rho: float, chains: int, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(chains, n, generator=generator, dtype=torch.float64)
    x = torch.zeros_like(noise)
    x[:, 0] = noise[:, 0]
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1 - rho**2) * noise[:, t]
    return x


def test_ess_matches_theory_for_ar1():
    """For AR(1) with coefficient rho the ESS of the mean is N (1 - rho) / (1 + rho)."""
    independent = _ar1(0.0, 4, 2000)
    assert ess_mean(independent) == pytest.approx(8000, rel=0.1)
    correlated = _ar1(0.8, 4, 4000)
    assert ess_mean(correlated) == pytest.approx(16000 * 0.2 / 1.8, rel=0.2)
    assert ess_bulk(correlated) == pytest.approx(16000 * 0.2 / 1.8, rel=0.2)
    assert split_rhat(correlated) == pytest.approx(1.0, abs=0.01)
    shifted = correlated + torch.tensor([[0.0], [0.0], [0.0], [3.0]])
    assert rank_rhat(shifted) > 1.1  # one chain elsewhere: not mixed


def test_constant_chains():
    """Within-chain variance 0: one shared value is converged, different values are stuck."""
    assert split_rhat(torch.full((3, 8), 2.5)) == 1.0
    assert rank_rhat(torch.full((3, 8), 2.5)) == 1.0
    assert split_rhat(torch.tensor([[1.0] * 8, [2.0] * 8])) == math.inf
    assert split_rhat(torch.tensor([[1.0] * 4 + [2.0] * 4] * 2)) == math.inf  # moved once


def test_too_few_draws_give_nan():
    assert math.isnan(ess_bulk(torch.ones(2, 3)))
    assert math.isnan(split_rhat(torch.randn(1, 100)))


@pytest.mark.parametrize("shape", [(4, 100), (3, 57), (8, 9), (1, 40)])
@pytest.mark.parametrize("ties", [False, True])
def test_against_arviz(shape, ties):
    az = pytest.importorskip("arviz")
    rng = np.random.default_rng(sum(shape))
    draws = np.cumsum(rng.normal(size=shape), axis=1) * 0.1 + rng.normal(size=shape)
    if ties:
        draws = np.round(draws, 1)
    tensor = torch.tensor(draws)
    assert ess_bulk(tensor) == pytest.approx(az.ess(draws, method="bulk"), rel=1e-9)
    assert ess_mean(tensor) == pytest.approx(az.ess(draws, method="mean"), rel=1e-9)
    if shape[0] > 1:
        assert rank_rhat(tensor) == pytest.approx(az.rhat(draws), rel=1e-9)
        assert split_rhat(tensor) == pytest.approx(az.rhat(draws, method="split"), rel=1e-9)
