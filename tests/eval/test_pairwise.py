"""Pairwise accuracy and rank correlation against hand-computed cases."""

from __future__ import annotations

import pytest

from textebm.eval.pairwise import pairwise_accuracy, spearman


class _FixedEnergy:
    """Stands in for MaskedLMEnergy: the energy of a text is its length in characters."""

    def score_texts(self, texts):
        return [type("Scored", (), {"energy": float(len(t))})() for t in texts]


def test_pairwise_accuracy_counts_wins_and_half_ties():
    good = ["ab", "abc", "abcd", "a"]
    bad = ["abc", "ab", "abcd", "abcdef"]  # win, loss, tie, win -> (2 + 0.5) / 4
    result = pairwise_accuracy(_FixedEnergy(), good, bad)
    assert result == {"accuracy": 0.625, "ties": 1, "pairs": 4}


def test_pairwise_accuracy_rejects_unpaired_lists():
    with pytest.raises(ValueError, match="equally long"):
        pairwise_accuracy(_FixedEnergy(), ["a"], [])


def test_spearman_hand_computed():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x = (1, 2, 3), y = (1, 3, 2): d = (0, -1, 1), rho = 1 - 6 * 2 / (3 * 8) = 0.5
    assert spearman([1, 2, 3], [5, 9, 7]) == pytest.approx(0.5)
    # ties share their mean rank: y ranks (1.5, 1.5, 3) against x ranks (1, 2, 3)
    assert spearman([1, 2, 3], [7, 7, 9]) == pytest.approx(0.8660254, abs=1e-6)
