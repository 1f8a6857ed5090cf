"""MCMC convergence diagnostics in torch: effective sample size and R-hat across chains.

Each follows ArviZ 0.x (`arviz.ess`, `arviz.rhat`, after Vehtari et al. 2021, "Rank-normalization,
folding, and localization: an improved R-hat"), which the tests check it against. Input is
`draws: (chains, draws)` of one scalar (here, the energy), computed in float64.

- `split_rhat`: classic split R-hat (each chain cut in two halves; arviz method="split").
- `rank_rhat`: max of the rank-normalised split R-hat and of its folded version (arviz default).
- `ess_bulk`: ESS of the rank-normalised split chains (arviz default, method="bulk").
- `ess_mean`: ESS of the split chains themselves (arviz method="mean").
Values near 1 for R-hat (below 1.01, Vehtari et al.) and ESS of hundreds mean the chains mixed.
"""

from __future__ import annotations

import math

import torch


def _split(draws: torch.Tensor) -> torch.Tensor:
    """(chains, n) -> (2 chains, n // 2): first and last halves (odd n: middle draw dropped)."""
    half = draws.shape[1] // 2
    return torch.cat([draws[:, :half], draws[:, draws.shape[1] - half :]])


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of a flat tensor, ties given their average rank (scipy's method='average')."""
    order = torch.argsort(values, stable=True)
    sorted_values = values[order]
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[1:] = sorted_values[1:] != sorted_values[:-1]
    group = torch.cumsum(new_group.long(), dim=0) - 1
    position = torch.arange(1, len(values) + 1, dtype=torch.float64, device=values.device)
    n_groups = int(group[-1]) + 1
    total = torch.zeros(n_groups, dtype=torch.float64, device=values.device)
    count = torch.zeros_like(total)
    total.index_add_(0, group, position)
    count.index_add_(0, group, torch.ones_like(position))
    ranks = torch.empty_like(position)
    ranks[order] = (total / count)[group]
    return ranks


def _z_scale(draws: torch.Tensor) -> torch.Tensor:
    """Rank-normalise: Phi^-1((rank - 3/8) / (n + 1/4)), ranks over all chains together."""
    ranks = _average_ranks(draws.flatten()).reshape(draws.shape)
    return torch.special.ndtri((ranks - 0.375) / (draws.numel() + 0.25))


def _rhat(draws: torch.Tensor) -> float:
    n = draws.shape[1]
    between = float(n * torch.var(draws.mean(dim=1), correction=1))
    within = float(torch.var(draws, dim=1, correction=1).mean())
    if within == 0:
        # Every (half-)chain constant: all at one value is as mixed as chains get (B/W = 0/0
        # would be NaN and a stopping rule would never stop); stuck at different values is not.
        return 1.0 if between == 0 else math.inf
    return math.sqrt((between / within + n - 1) / n)


def _autocov(draws: torch.Tensor) -> torch.Tensor:
    """Autocovariance of each chain at lags 0..n-1 (biased, divided by n), by FFT."""
    n = draws.shape[1]
    centred = draws - draws.mean(dim=1, keepdim=True)
    spectrum = torch.fft.rfft(centred, n=2 * n, dim=1)
    return torch.fft.irfft(spectrum * spectrum.conj(), n=2 * n, dim=1)[:, :n] / n


def _ess(draws: torch.Tensor) -> float:
    """ESS with Geyer's initial monotone sequence, as arviz's `_ess`."""
    chains, n = draws.shape
    if float(draws.max() - draws.min()) < 1e-15:
        return float(draws.numel())
    acov = _autocov(draws)
    mean_var = float(acov[:, 0].mean()) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus += float(torch.var(draws.mean(dim=1), correction=1))
    mean_acov = acov.mean(dim=0).tolist()
    rho = [0.0] * n
    rho[0] = even = 1.0
    rho[1] = odd = 1.0 - (mean_var - mean_acov[1]) / var_plus
    t = 1
    while t < n - 3 and even + odd > 0.0:  # Geyer's initial positive sequence
        even = 1.0 - (mean_var - mean_acov[t + 1]) / var_plus
        odd = 1.0 - (mean_var - mean_acov[t + 2]) / var_plus
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # ... made monotone
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = chains * n
    tau = -1.0 + 2.0 * sum(rho[: max_t + 1]) + sum(rho[max_t + 1 : max_t + 2])
    return total / max(tau, 1.0 / math.log10(total))


def _valid(draws: torch.Tensor, min_chains: int) -> torch.Tensor | None:
    """float64 draws, or None with fewer than 4 draws or `min_chains` chains, or a NaN."""
    draws = torch.as_tensor(draws, dtype=torch.float64)
    if draws.dim() != 2 or draws.shape[1] < 4 or draws.shape[0] < min_chains:
        return None
    return draws if torch.isfinite(draws).all() else None


def split_rhat(draws: torch.Tensor) -> float:
    """Split R-hat; NaN with fewer than 2 chains or 4 draws; 1 when every draw is the same,
    inf when each half-chain is constant but they differ."""
    draws = _valid(draws, 2)
    return math.nan if draws is None else _rhat(_split(draws))


def rank_rhat(draws: torch.Tensor) -> float:
    """Rank-normalised, folded split R-hat (ArviZ's default); NaN below 2 chains or 4 draws."""
    draws = _valid(draws, 2)
    if draws is None:
        return math.nan
    split = _split(draws)
    folded = (split - torch.quantile(split.flatten(), 0.5)).abs()
    return max(_rhat(_z_scale(split)), _rhat(_z_scale(folded)))


def ess_bulk(draws: torch.Tensor) -> float:
    """Bulk ESS: of the rank-normalised split chains; NaN with fewer than 4 draws."""
    draws = _valid(draws, 1)
    return math.nan if draws is None else _ess(_z_scale(_split(draws)))


def ess_mean(draws: torch.Tensor) -> float:
    """ESS of the mean: of the split chains as they are; NaN with fewer than 4 draws."""
    draws = _valid(draws, 1)
    return math.nan if draws is None else _ess(_split(draws))
