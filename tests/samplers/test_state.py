"""Which positions a step changes: the random draw matches `candidate_blocks`, scans in order."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from textebm.samplers.gibbs import DegenerateGibbs
from textebm.samplers.mh import MetropolisHastings
from textebm.samplers.state import candidate_blocks, check_sites, choose_sites, steps_per_sweep


def _free(n: int, chains: int) -> torch.Tensor:
    """[CLS] n free [SEP] [PAD]: free positions 1..n."""
    free = torch.zeros(chains, n + 3, dtype=torch.bool)
    free[:, 1 : n + 1] = True
    return free


@pytest.mark.parametrize(
    ("k", "layout"),
    [(1, "contiguous"), (2, "contiguous"), (2, "scattered"), (3, "scattered"), (9, "contiguous")],
)
def test_random_blocks_are_uniform_over_the_candidates(k, layout):
    n, chains = 5, 20000
    sites = choose_sites(_free(n, chains), 0, torch.Generator().manual_seed(0), k, "random", layout)
    counts = Counter(tuple((row.nonzero().squeeze(1) - 1).tolist()) for row in sites)
    candidates = candidate_blocks(n, k, layout)
    assert set(counts) == set(candidates)
    expected = chains / len(candidates)
    for block in candidates:  # within 5 standard deviations of uniform
        assert abs(counts[block] - expected) < 5 * expected**0.5


def test_systematic_scan_walks_contiguous_blocks_in_order():
    free = torch.zeros(2, 9, dtype=torch.bool)
    free[0, 1:8] = True  # 7 free positions
    free[1, [1, 2, 4, 6]] = True  # 4 free positions, not adjacent (a template)
    generator = torch.Generator().manual_seed(0)
    blocks = [
        choose_sites(free, step, generator, 3, "systematic").nonzero().tolist() for step in range(4)
    ]
    assert [[c for r, c in b if r == 0] for b in blocks] == [[1, 2, 3], [4, 5, 6], [7], [1, 2, 3]]
    assert [[c for r, c in b if r == 1] for b in blocks] == [[1, 2, 4], [6], [1, 2, 4], [6]]
    assert steps_per_sweep(free, 3) == 3 and steps_per_sweep(free, 1) == 7


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scan": "zigzag"}, "scan must be one of ('random', 'systematic'), not 'zigzag'"),
        ({"layout": "ring"}, "layout must be one of ('contiguous', 'scattered'), not 'ring'"),
        ({"block_size": 0}, "block_size must be >= 1, not 0"),
    ],
)
def test_every_kernel_refuses_sites_choose_sites_cannot_draw(settings, message):
    arguments = {"block_size": 1, "scan": "random", "layout": "contiguous", **settings}
    with pytest.raises(ValueError) as error:
        check_sites(**arguments)
    assert str(error.value) == message
    # the kernels check before they touch their energy, so none is needed here
    for kernel in (DegenerateGibbs, MetropolisHastings):
        with pytest.raises(ValueError) as error:
            kernel(None, **settings)
        assert str(error.value) == message
    check_sites(3, "systematic", "scattered")  # every known choice passes
