"""Pairwise accuracy: does the energy prefer the real sentence to its corruption?"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def outcome(energy_good: float, energy_bad: float) -> float:
    """A pair's score: 1 when the good sentence has the lower energy, 0.5 on a tie, else 0."""
    if energy_good == energy_bad:
        return 0.5
    return 1.0 if energy_good < energy_bad else 0.0


def tally(outcomes: Iterable[float]) -> dict:
    """{"accuracy", "correct", "ties", "pairs"} of pair outcomes (see `outcome`); a tie counts
    half, so chance is 0.5. accuracy is None when there are no pairs."""
    values = list(outcomes)
    correct = sum(1 for value in values if value == 1.0)
    ties = sum(1 for value in values if value == 0.5)
    accuracy = (correct + 0.5 * ties) / len(values) if values else None
    return {"accuracy": accuracy, "correct": correct, "ties": ties, "pairs": len(values)}


def pairwise_accuracy(energy: Any, good: list[str], bad: list[str]) -> dict:
    """Fraction of pairs with E(good) < E(bad); a tie counts half (chance is 0.5).

    energy: anything with `score_texts` (MaskedLMEnergy, CausalLMEnergy, ...).
    good, bad: sentences paired by position, e.g. each grammatical sentence and a corruption.
    Returns {"accuracy", "ties", "pairs"}.
    """
    if len(good) != len(bad) or not good:
        raise ValueError("pairwise_accuracy needs two equally long, non-empty lists")
    scores = energy.score_texts(good + bad)
    energies = [s.energy for s in scores]
    counts = tally(
        outcome(g, b) for g, b in zip(energies[: len(good)], energies[len(good) :], strict=True)
    )
    return {key: counts[key] for key in ("accuracy", "ties", "pairs")}


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""

    def ranks(values: list[float]) -> torch.Tensor:
        v = torch.tensor(values, dtype=torch.float64)
        order = torch.argsort(v)
        rank = torch.empty_like(v)
        rank[order] = torch.arange(len(v), dtype=torch.float64)
        for value in torch.unique(v):  # ties share their mean rank
            same = v == value
            rank[same] = rank[same].mean()
        return rank

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / torch.sqrt((rx * rx).sum() * (ry * ry).sum()))
