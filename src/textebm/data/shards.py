"""Splitting work across processes: which items a process takes, its seed, and the gather.

A job of `total` items (sampling chains, input lines) run on `world` processes gives process
`rank` one shard of them. Two layouts:
- `contiguous`: a block, the first `total % world` blocks one item longer (as numpy's
  `array_split`), so that the shards' outputs concatenated in rank order are in item order;
- `strided`: items rank, rank + world, ..., which balances sorted or drifting lengths better but
  needs a sort after the gather (`textebm score` uses it).

A randomised job seeds each shard from the run's seed and the rank (`shard_seed`), so that shard r
of W can be rerun alone (`--shard r/W`) and the W shards' outputs concatenated equal one W-process
run. `Processes` wraps Accelerate's process state for the collective steps (rank-order gather, the
largest value over processes); with one process it does nothing and needs no process group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textebm.errors import UsageError

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: SplitMix64's increment
_MASK64 = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    """SplitMix64's finaliser (Steele, Lea and Flood 2014): a bijection of 64-bit integers that
    spreads nearby inputs far apart."""
    value = (value + _GOLDEN) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def shard_seed(seed: int, rank: int) -> int:
    """The generator seed of shard `rank` of a run seeded with `seed`.

    Rank 0 keeps `seed` itself, so that a one-process run is what it was before sharding existed.
    Rank r > 0 takes SplitMix64 of (seed + r * 2**64/phi) mod 2**64, cut to 63 bits (any torch
    generator takes it): a fixed function of (seed, r) only, not of the number of processes, and
    far from the seeds a user would pick by hand for other runs.
    """
    if rank < 0:
        raise ValueError(f"rank must be >= 0, not {rank}")
    if rank == 0:
        return seed
    return _splitmix64((seed + rank * _GOLDEN) & _MASK64) >> 1


def contiguous(total: int, rank: int, world: int) -> range:
    """Items [start, stop) of shard `rank` of `world`: blocks in rank order, the first
    `total % world` of them one item longer; together they cover range(total) exactly once."""
    _check(rank, world)
    size, extra = divmod(total, world)
    start = rank * size + min(rank, extra)
    return range(start, start + size + (rank < extra))


def strided(total: int, rank: int, world: int) -> range:
    """Items rank, rank + world, ... of range(total)."""
    _check(rank, world)
    return range(rank, total, world)


def _check(rank: int, world: int) -> None:
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= rank < world, not rank {rank} of {world}")


@dataclass(frozen=True)
class Shard:
    """Shard `rank` (0-based) of `world`."""

    rank: int
    world: int

    def __post_init__(self) -> None:
        _check(self.rank, self.world)

    def items(self, total: int) -> range:
        """This shard's contiguous block of range(total)."""
        return contiguous(total, self.rank, self.world)

    def seed(self, seed: int) -> int:
        return shard_seed(seed, self.rank)

    def __str__(self) -> str:
        return f"{self.rank}/{self.world}"


def parse_shard(spec: str, flag: str = "--shard") -> Shard:
    """'R/W' (0 <= R < W) -> Shard(R, W); anything else is a UsageError naming `flag`."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not match:
        raise UsageError(f"{flag} must be R/W, shard R (from 0) of W, e.g. 0/2; not {spec!r}")
    rank, world = int(match.group(1)), int(match.group(2))
    if world < 1 or rank >= world:
        raise UsageError(f"{flag} {spec}: need W >= 1 and 0 <= R < W (shards count from 0)")
    return Shard(rank, world)


class Processes:
    """The processes of this run (`torchrun`, `accelerate launch`, or just this one).

    cpu: make Accelerate see a torchrun launch on a machine without accelerators as
    multi-process (gloo); without it each process would think it runs alone.
    """

    def __init__(self, cpu: bool = False) -> None:
        from accelerate import PartialState

        self._state = PartialState(cpu=cpu)
        self.rank = self._state.process_index
        self.world = self._state.num_processes
        self.device = self._state.device

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world)

    @property
    def is_main(self) -> bool:
        return self._state.is_main_process

    def gather(self, items: list) -> list:
        """Every process's `items` (picklable), concatenated in rank order, on every process."""
        if self.world == 1:
            return list(items)
        from accelerate.utils import gather_object

        return gather_object(list(items))

    def largest(self, value: float) -> float:
        """The largest of every process's `value`, on every process."""
        return max(self.gather([value]))

    def wait(self) -> None:
        self._state.wait_for_everyone()
