"""Data order and seeds: which examples a micro-batch holds, and the seeds of its random draws.

Both are pure functions of the run's seed and the micro-batch's index, which is what makes a
resumed run continue exactly (see `textebm.recipes.loop`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, well mixed so that nearby steps get unrelated streams."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BatchOrder:
    """Which examples micro-batch `index` of a run holds: a pure function of the seed and index.

    Epoch e is a permutation seeded by (seed, e), cut into batches (a last partial batch is
    dropped). With `lengths`, the permutation is first cut into pools of 64 batches, each pool is
    sorted by length before being cut, and the batches are shuffled again: batches of similar
    lengths waste less padding (`group_by_length` in transformers).
    """

    POOL = 64

    def __init__(
        self, n_examples: int, batch_size: int, seed: int, lengths: torch.Tensor | None = None
    ) -> None:
        self.batch_size, self.seed, self.lengths = batch_size, seed, lengths
        self.n_examples, self.per_epoch = n_examples, n_examples // batch_size
        self._epoch, self._batches = -1, torch.empty(0)

    def __call__(self, index: int) -> list[int]:
        epoch, j = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self._epoch_batches(epoch)
        return self._batches[j].tolist()

    def _epoch_batches(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
        order = torch.randperm(self.n_examples, generator=generator)
        order = order[: self.per_epoch * self.batch_size]
        if self.lengths is None:
            return order.view(self.per_epoch, self.batch_size)
        pools = order.split(self.POOL * self.batch_size)
        order = torch.cat(
            [
                pool[torch.argsort(self.lengths[pool], descending=True, stable=True)]
                for pool in pools
            ]
        )
        batches = order.view(self.per_epoch, self.batch_size)
        return batches[torch.randperm(self.per_epoch, generator=generator)]
