"""Closed classes, restricted stationary distributions, detailed balance and the burn-in to mix,
on hand-built small chains whose answers are worked out in the docstrings."""

from __future__ import annotations

import itertools

import pytest
import torch

from textebm.eval.exact import (
    class_mixture,
    class_stationaries,
    closed_classes,
    detailed_balance_violation,
    restricted,
    strongly_connected,
)
from textebm.eval.sampled_check import burn_in_to_mix

# Two closed classes {0, 1} and {2, 3}, and a transient state 4 that can fall into either.
#   class {0, 1}: P = [[1 - a, a], [b, 1 - b]] with a = 0.2, b = 0.6: pi = (b, a) / (a + b)
#                 = (0.75, 0.25);
#   class {2, 3}: a = 0.5, b = 0.5: pi = (0.5, 0.5).
REDUCIBLE = torch.tensor(
    [
        [0.8, 0.2, 0.0, 0.0, 0.0],
        [0.6, 0.4, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.5, 0.5, 0.0],
        [0.0, 0.0, 0.5, 0.5, 0.0],
        [0.1, 0.0, 0.3, 0.0, 0.6],
    ],
    dtype=torch.float64,
)


def test_closed_classes_of_a_reducible_chain():
    classes = closed_classes(REDUCIBLE)
    assert [c.tolist() for c in classes] == [[0, 1], [2, 3]]
    pis = class_stationaries(REDUCIBLE, classes)
    expected = [[0.75, 0.25, 0, 0, 0], [0, 0, 0.5, 0.5, 0]]
    for pi, want in zip(pis, expected, strict=True):
        assert torch.allclose(pi, torch.tensor(want, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(pi @ REDUCIBLE, pi, atol=1e-12)
    # two stationary distributions, so pi P = pi has a 2-dimensional solution space: the whole
    # chain's system (`stationary`) is singular
    system = REDUCIBLE.T - torch.eye(5, dtype=torch.float64)
    assert int(torch.linalg.matrix_rank(system)) == 3


def test_restricted_target_and_mixture():
    """target (0.1, 0.2, 0.3, 0.4, 0) on {2, 3}: (0, 0, 3/7, 4/7, 0); a chain found 3/4 of the
    time in {0, 1} and 1/4 in {2, 3} goes to 3/4 (1/3, 2/3, 0, 0, 0) + 1/4 (0, 0, 3/7, 4/7, 0)."""
    target = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0], dtype=torch.float64)
    assert torch.allclose(
        restricted(target, torch.tensor([2, 3])),
        torch.tensor([0, 0, 3 / 7, 4 / 7, 0], dtype=torch.float64),
    )
    classes = [torch.tensor([0, 1]), torch.tensor([2, 3])]
    mixed = class_mixture(target, classes, torch.tensor([0.75, 0.25], dtype=torch.float64))
    want = torch.tensor([0.25, 0.5, 0.75 / 7, 1 / 7, 0], dtype=torch.float64)
    assert torch.allclose(mixed, want)


def test_strongly_connected_against_reachability():
    """Tarjan against the definition: i ~ j when each reaches the other (transitive closure by
    repeated boolean squaring), on random sparse graphs with long paths and self-loops."""
    generator = torch.Generator().manual_seed(0)
    for n, density in itertools.product((1, 7, 40), (0.02, 0.08, 0.3)):
        edges = torch.rand(n, n, generator=generator) < density
        successors = [row.nonzero().squeeze(1).tolist() for row in edges]
        reach = edges | torch.eye(n, dtype=torch.bool)
        for _ in range(n.bit_length() + 1):
            reach = (reach.double() @ reach.double()) > 0
        mutual = reach & reach.T
        naive = {tuple(row.nonzero().squeeze(1).tolist()) for row in mutual}
        assert {tuple(c) for c in strongly_connected(successors)} == naive


def test_closed_classes_exclude_leaky_components():
    """0 -> 1 -> 2 -> 1 and 3 alone: {1, 2} and {3} are closed, {0} leaks into {1, 2}."""
    matrix = torch.tensor(
        [[0.5, 0.5, 0, 0], [0, 0, 1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]], dtype=torch.float64
    )
    assert [c.tolist() for c in closed_classes(matrix)] == [[1, 2], [3]]


def test_detailed_balance_violation():
    """A reversible chain: 0. The 3-cycle 0 -> 1 -> 2 -> 0 with probability 1/2 (else stay),
    uniform pi: f_01 = 1/6, f_10 = 0, so the relative violation is 1. A chain that moves 0 -> 1
    with 0.3 and back with 0.2 against pi = (0.5, 0.5): |0.15 - 0.1| / 0.15 = 1/3."""
    pi = torch.tensor([0.75, 0.25], dtype=torch.float64)
    reversible = torch.tensor([[0.8, 0.2], [0.6, 0.4]], dtype=torch.float64)
    assert detailed_balance_violation(reversible, pi) == pytest.approx(0.0, abs=1e-15)
    cycle = torch.tensor([[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]], dtype=torch.float64)
    uniform = torch.full((3,), 1 / 3, dtype=torch.float64)
    assert detailed_balance_violation(cycle, uniform) == pytest.approx(1.0)
    off = torch.tensor([[0.7, 0.3], [0.2, 0.8]], dtype=torch.float64)
    half = torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert detailed_balance_violation(off, half) == pytest.approx(1 / 3)


def test_burn_in_to_mix():
    """P = [[1 - a, a], [a, 1 - a]] from state 0: law_t(0) = 1/2 + (1 - 2a)^t / 2, so its TV
    from (1/2, 1/2) is (1 - 2a)^t / 2. a = 0.1, bias 0.01: the first t with 0.8^t <= 0.02 is
    18 (0.8^17 = 0.0225, 0.8^18 = 0.0180)."""
    a = 0.1
    sweep = torch.tensor([[1 - a, a], [a, 1 - a]], dtype=torch.float64)
    target = torch.tensor([0.5, 0.5], dtype=torch.float64)
    start = torch.tensor([1.0, 0.0], dtype=torch.float64)
    classes = [torch.tensor([0, 1])]
    assert burn_in_to_mix(start, target, sweep, classes, least=0, bias=0.01) == 18
    assert burn_in_to_mix(start, target, sweep, classes, least=30, bias=0.01) == 30
    assert burn_in_to_mix(start, target, sweep, classes, least=0, bias=0.01, most=5) == 5
    # two closed classes: a start split 1/4 : 3/4 between them goes to that split, so a start
    # already at the restricted targets needs no sweep at all
    two = torch.block_diag(sweep, sweep)
    target4 = torch.tensor([0.1, 0.1, 0.4, 0.4], dtype=torch.float64)
    start4 = torch.tensor([0.125, 0.125, 0.375, 0.375], dtype=torch.float64)
    blocks = [torch.tensor([0, 1]), torch.tensor([2, 3])]
    assert burn_in_to_mix(start4, target4, two, blocks, least=0, bias=1e-12) == 0
