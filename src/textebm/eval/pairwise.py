"""Pairwise accuracy: does the energy prefer the real sentence to its corruption?"""

from __future__ import annotations

import torch

from textebm.energies.masked_lm import MaskedLMEnergy


def pairwise_accuracy(energy: MaskedLMEnergy, good: list[str], bad: list[str]) -> dict:
    """Fraction of pairs with E(good) < E(bad); a tie counts half (chance is 0.5).

    good, bad: sentences paired by position, e.g. each grammatical sentence and a corruption.
    Returns {"accuracy", "ties", "pairs"}.
    """
    if len(good) != len(bad) or not good:
        raise ValueError("pairwise_accuracy needs two equally long, non-empty lists")
    scores = energy.score_texts(good + bad)
    e_good = torch.tensor([s.energy for s in scores[: len(good)]])
    e_bad = torch.tensor([s.energy for s in scores[len(good) :]])
    wins = (e_good < e_bad).sum().item()
    ties = (e_good == e_bad).sum().item()
    return {"accuracy": (wins + 0.5 * ties) / len(good), "ties": ties, "pairs": len(good)}


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
