"""The sampled checks' measures for `textebm verify` (`eval.verify`): the TV of sampled states
from the target restricted to the closed classes they sit in, the bound that TV is judged
against (0.03, widened to what chance allows when there are few effective samples), and how long
a truncated MH chain must burn in before its samples can be compared at all."""

from __future__ import annotations

import math

import torch

from textebm.eval.exact import (
    ExactSpace,
    class_mixture,
    empirical,
    sampling_noise_tv,
    tv_distance,
)

SAMPLED_TOLERANCE = 0.03
NOISE_MARGIN = 1.5  # an exact sampler's TV concentrates near its noise level (sd ~ 0.1 of it)
ESS_MIN_SWEEPS = 20  # below this, Geyer's ESS of the split chains reads any chain as independent
BURN_IN_BIAS = 0.005  # with proposal options: burn in until the chains' exact law is this close


def sampled_tolerance(law: torch.Tensor, ess: float | None, chains: int, kept: int) -> float:
    """max(0.03, NOISE_MARGIN x the TV of n independent draws from `law`), the sampled rows'
    bound. n: the energy's ESS, at most the chains x kept sweeps drawn; with fewer than
    `ESS_MIN_SWEEPS` kept sweeps (or no ESS) a chain's autocorrelation cannot be estimated, so
    only the chains, which are independent, count as independent draws."""
    if kept < ESS_MIN_SWEEPS or ess is None or math.isnan(ess):
        draws = float(chains)
    else:
        draws = min(ess, chains * kept)
    return max(SAMPLED_TOLERANCE, NOISE_MARGIN * sampling_noise_tv(law, draws))


def sampled_tv(
    space: ExactSpace,
    target: torch.Tensor,
    classes: list[torch.Tensor],
    tokens: torch.Tensor,
) -> tuple[float, torch.Tensor]:
    """TV of the sampled states (..., length + 2) from the target restricted to each closed class,
    weighted by the share of samples in the class (chains never leave a closed class), and that
    weighted target (N,). With one class, the TV from the target itself."""
    drawn = empirical(space, tokens)
    weights = torch.stack([drawn[states].sum() for states in classes])
    if not weights.sum() > 0:
        return 1.0, target  # every sample in a transient state: as far off as it gets
    limit = class_mixture(target, classes, weights / weights.sum())
    return tv_distance(drawn, limit), limit


def burn_in_to_mix(
    law: torch.Tensor,
    target: torch.Tensor,
    sweep: torch.Tensor,
    classes: list[torch.Tensor],
    least: int,
    bias: float = BURN_IN_BIAS,
    most: int = 10_000,
) -> int:
    """Sweeps (at least `least`, at most `most`) after which a chain started from `law` (N,) and
    moved by the one-sweep matrix `sweep` (N, N) is within `bias` in TV of where it goes: the
    target restricted to each closed class, weighted by the start's mass in it. A truncated
    single-site MH chain can hold a metastable set of states for hundreds of sweeps, so a fixed
    burn-in would leave a bias the size of the sampled tolerance.

    Only for a chain whose every state is in a closed class (MH: its moves go both ways)."""
    weights = torch.stack([law[states].sum() for states in classes])
    limit = class_mixture(target, classes, weights / weights.sum())
    for sweeps in range(most + 1):
        if sweeps >= least and tv_distance(law, limit) <= bias:
            return sweeps
        law = law @ sweep
    return most
