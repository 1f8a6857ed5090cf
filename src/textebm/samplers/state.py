"""What a chain carries between steps, what a step reports, and which positions a step changes.

Units: a *step* changes one position (or one block of k positions) in every chain; a *sweep* is
ceil(n / k) steps, n the number of free positions (the longest chain's, when lengths differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import combinations

import torch

from textebm.energies.base import Condition

SCANS = ("random", "systematic")
LAYOUTS = ("contiguous", "scattered")


@dataclass(frozen=True)
class ChainState:
    """Many chains at once, batched along the first axis.

    tokens: (chains, length) int64, special tokens included, right-padded.
    attention_mask: (chains, length) int64, 1 for real tokens.
    free: (chains, length) bool, positions the sampler may change (not special, not fixed).
    energy: (chains,) float, untempered E(x); None for samplers that never need it.
    hidden: (chains, length, hidden) output-layer inputs of each position's masked copy of the
        current tokens (`Conditionals.hidden`), or None when not cached.
    step: steps taken so far (systematic scans start from it).
    condition: what every energy call of these chains is conditioned on (`Condition`, one row
        per chain), or None; no kernel ever changes it.
    """

    tokens: torch.Tensor
    attention_mask: torch.Tensor
    free: torch.Tensor
    energy: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    step: int = 0
    condition: Condition | None = None

    @property
    def n_free(self) -> torch.Tensor:
        return self.free.sum(dim=1)

    def replace(self, **changes) -> ChainState:
        return replace(self, **changes)


@dataclass(frozen=True)
class StepInfo:
    """What one step did in each chain.

    sites: (chains, length) bool, the positions resampled.
    proposal: (chains, length) int64, the proposed tokens (equal to the current ones off `sites`).
    acceptance: (chains,) acceptance probability min(1, a); 1 for samplers that always accept.
    accepted: (chains,) bool.
    novel: (chains,) bool, accepted and different from the current tokens.
    log_ratio: (chains,) log a before clipping, NaN where a sampler has none.
    """

    sites: torch.Tensor
    proposal: torch.Tensor
    acceptance: torch.Tensor
    accepted: torch.Tensor
    novel: torch.Tensor
    log_ratio: torch.Tensor


def check_sites(block_size: int, scan: str, layout: str) -> None:
    """ValueError unless `choose_sites` can use these settings: a known scan and layout, and a
    block of at least one position."""
    if scan not in SCANS:
        raise ValueError(f"scan must be one of {SCANS}, not {scan!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, not {block_size}")


def steps_per_sweep(free: torch.Tensor, block_size: int = 1) -> int:
    """ceil(n / k) for the chain with the most free positions."""
    return max(1, math.ceil(int(free.sum(dim=1).max()) / block_size))


def _by_rank(free: torch.Tensor, start: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """(chains, length) bool: free positions ranked (among free ones) in [start, start + size)."""
    rank = torch.cumsum(free.long(), dim=1) - 1
    return free & (rank >= start.unsqueeze(1)) & (rank < (start + size).unsqueeze(1))


def choose_sites(
    free: torch.Tensor,
    step: int,
    generator: torch.Generator,
    block_size: int = 1,
    scan: str = "random",
    layout: str = "contiguous",
) -> torch.Tensor:
    """The positions each chain changes at this step: (chains, length) bool, min(k, n) per chain.

    random scan: a uniformly random block (contiguous: uniform start among the n - k + 1 windows
        of consecutive free positions; scattered: a uniform k-subset of the free positions);
    systematic scan: contiguous blocks in order, block j = (step mod ceil(n/k)); a scattered
        layout has no order, so it is always drawn at random.
    `candidate_blocks` lists the same distribution, for exact transition matrices.
    """
    n = free.sum(dim=1)
    k = torch.clamp(n, max=block_size)
    if layout == "scattered" and block_size > 1:
        keys = torch.rand(free.shape, generator=generator, device=free.device)
        keys = keys.masked_fill(~free, 2.0)
        order = torch.argsort(torch.argsort(keys, dim=1), dim=1)  # rank of each key
        return free & (order < k.unsqueeze(1))
    if scan == "systematic":
        blocks = torch.div(n + block_size - 1, block_size, rounding_mode="floor").clamp(min=1)
        start = (step % blocks) * block_size
        return _by_rank(free, start, torch.clamp(n - start, max=block_size))
    u = torch.rand(n.shape, generator=generator, device=free.device)
    start = torch.floor(u * (n - k + 1)).long().clamp(max=(n - k).clamp(min=0))
    return _by_rank(free, start, k)


def candidate_blocks(n: int, block_size: int, layout: str = "contiguous") -> list[tuple[int, ...]]:
    """Every block a random-scan step may pick among n free positions (as ranks), all equally
    likely: the distribution `choose_sites` draws from."""
    k = min(block_size, n)
    if layout == "scattered" and block_size > 1:
        return list(combinations(range(n), k))
    return [tuple(range(start, start + k)) for start in range(n - k + 1)]
