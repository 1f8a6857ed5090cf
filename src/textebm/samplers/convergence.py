"""Convergence by length group, and the rule that runs chains until the energy's R-hat is low.

Chains of different lengths have energies on different scales (a longer sequence sums more
terms), so an R-hat across all of them measures the lengths, not the mixing: it is computed per
group of chains that share one length instead. A group of one chain has nothing to be compared
with, so its R-hat is None (null in JSON), never a made-up number.

    rule = StopRule(until_rhat=1.05, check_every=10, max_sweeps=2000, time_budget=30.0)
    samples = run_chains(kernel, state, generator, sweeps=100, burn_in=20, stop=rule)
    samples.diagnostics["stopping"]["stopped_by"]   # "converged", "max_sweeps" or "time_budget"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from textebm.eval.mcmc import ess_bulk, rank_rhat, split_rhat


def finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


def groups_of(keys: Sequence[int]) -> dict[int, list[int]]:
    """{key: the chains (indices) with that key}, keys in increasing order."""
    groups: dict[int, list[int]] = {}
    for chain, key in enumerate(keys):
        groups.setdefault(int(key), []).append(chain)
    return dict(sorted(groups.items()))


def group_split_rhats(post: torch.Tensor, keys: Sequence[int]) -> dict[int, float]:
    """Split R-hat of each group's chains: {length: R-hat, NaN for one chain or < 4 draws}.

    post: (chains, draws) the energy after every sweep past the burn-in.
    """
    return {key: split_rhat(post[chains]) for key, chains in groups_of(keys).items()}


def by_length(post: torch.Tensor, keys: Sequence[int]) -> list[dict]:
    """Energy diagnostics per length group, JSON-ready, in increasing length.

    post: (chains, draws) energies past the burn-in; keys: (chains,) each chain's length.
    Each entry: {"length", "chains", "split_rhat", "rhat" (rank-normalised, folded), "ess_bulk"};
    R-hats are None for a group of one chain or with under 4 draws.
    """
    out = []
    for key, chains in groups_of(keys).items():
        draws = post[chains]
        out.append(
            {
                "length": key,
                "chains": len(chains),
                "split_rhat": finite_or_none(split_rhat(draws)),
                "rhat": finite_or_none(rank_rhat(draws)),
                "ess_bulk": finite_or_none(ess_bulk(draws)),
            }
        )
    return out


def worst(groups: list[dict]) -> dict | None:
    """The group with the highest split R-hat, or None when no group has one."""
    rated = [g for g in groups if g["split_rhat"] is not None]
    return max(rated, key=lambda g: g["split_rhat"]) if rated else None


def single_chain_lengths(keys: Sequence[int]) -> list[int]:
    """Lengths that only one chain has: R-hat can never say those converged."""
    return [key for key, chains in groups_of(keys).items() if len(chains) < 2]


@dataclass(frozen=True)
class StopRule:
    """Run past the minimum number of sweeps until the energy's split R-hat is at most
    `until_rhat` in every length group, checked every `check_every` sweeps past the burn-in;
    capped by `max_sweeps` (sweeps past the burn-in) and `time_budget` (minutes of wall clock,
    burn-in included). The minimum is always run, even past the time budget. At least one cap.

    The check reads the energy trace only, so it draws no random numbers: a run that stops at
    sweep k equals a run of exactly k sweeps with the same seed.
    """

    until_rhat: float
    check_every: int = 10
    max_sweeps: int | None = None
    time_budget: float | None = None

    def __post_init__(self) -> None:
        if not self.until_rhat > 1:
            raise ValueError(f"until_rhat must be more than 1, not {self.until_rhat}")
        if self.check_every < 1:
            raise ValueError(f"check_every must be >= 1, not {self.check_every}")
        if self.max_sweeps is None and self.time_budget is None:
            raise ValueError("a stopping rule needs a cap: max_sweeps, time_budget or both")
        if self.max_sweeps is not None and self.max_sweeps < 1:
            raise ValueError(f"max_sweeps must be >= 1, not {self.max_sweeps}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget must be positive minutes, not {self.time_budget}")

    def due(self, done: int, minimum: int) -> bool:
        """Whether to compute R-hat after `done` sweeps past the burn-in."""
        return done >= minimum and done % self.check_every == 0

    def converged(self, rhats: dict[int, float]) -> bool:
        """Every group's split R-hat is known (not NaN) and at most the threshold."""
        return all(not math.isnan(r) and r <= self.until_rhat for r in rhats.values())

    def cap(self, done: int, minimum: int, minutes: float) -> str | None:
        """Which cap ends the run after `done` sweeps past the burn-in, if one does."""
        if done < minimum:
            return None
        if self.max_sweeps is not None and done >= self.max_sweeps:
            return "max_sweeps"
        if self.time_budget is not None and minutes >= self.time_budget:
            return "time_budget"
        return None

    def settings(self) -> dict:
        return {
            "until_rhat": self.until_rhat,
            "check_every": self.check_every,
            "max_sweeps": self.max_sweeps,
            "time_budget_minutes": self.time_budget,
        }
