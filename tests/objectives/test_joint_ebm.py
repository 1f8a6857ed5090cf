"""The residual-form NCE terms of joint EBM training, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.objectives.joint_ebm import residual_nce_terms
from textebm.objectives.nce import logistic_nce


def test_logistic_terms_by_hand():
    """Noise logit s = 0: -log sigma(0) = log 2 both ways; s = log 3 (odds 3:1 for noise):
    -log(3/4) for a noise item, -log(1/4) for a data item."""
    logits = torch.tensor([0.0, math.log(3)])
    noise = logistic_nce(logits, torch.ones(2, dtype=torch.bool))
    data = logistic_nce(logits, torch.zeros(2, dtype=torch.bool))
    assert noise.tolist() == pytest.approx([math.log(2), -math.log(0.75)])
    assert data.tolist() == pytest.approx([math.log(2), -math.log(0.25)])


@pytest.mark.parametrize(
    "energy, k, data_term, noise_term",
    [
        (0.0, 1, math.log(2), math.log(2)),  # log(1 + 1), log(1 + 1)
        (math.log(2), 3, math.log(7), math.log(3.5)),  # log(1 + 3 * 2), log(3 + 1/2)
        (-math.log(4), 8, math.log(3), math.log(12)),  # log(1 + 8/4), log(8 + 4)
    ],
)
def test_residual_terms_by_hand(energy, k, data_term, noise_term):
    data, noise = residual_nce_terms(torch.tensor([energy]), torch.tensor([energy]), k)
    assert float(data) == pytest.approx(data_term)
    assert float(noise) == pytest.approx(noise_term)


def test_extreme_energies_stay_finite():
    """log(1 + 8 e^100) = 100 + log 8 to float precision; log(8 + e^-100) = log 8."""
    energy = torch.tensor([100.0, -100.0])
    data, noise = residual_nce_terms(energy, energy, 8)
    assert data.tolist() == pytest.approx([100 + math.log(8), 0.0], abs=1e-5)
    assert noise.tolist() == pytest.approx([math.log(8), 100.0], abs=1e-4)


def test_noise_term_is_textbook_plus_log_k_same_gradient():
    """Textbook noise term -log sigma(E + log K): the residual one is it plus log K."""
    energy = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    _, noise = residual_nce_terms(torch.zeros(1), energy, 5)
    textbook = -torch.nn.functional.logsigmoid(energy + math.log(5))
    assert (noise - textbook).tolist() == pytest.approx([math.log(5)] * 3)
    (grad,) = torch.autograd.grad(noise.sum(), energy)
    (grad_textbook,) = torch.autograd.grad(textbook.sum(), energy)
    assert torch.allclose(grad, grad_textbook)
    # d/dE log(K + e^-E) = -e^-E / (K + e^-E), by hand at E = 0.3
    expected = -math.exp(-0.3) / (5 + math.exp(-0.3))
    assert float(grad[0]) == pytest.approx(expected)


def test_noise_ratio_must_be_positive():
    with pytest.raises(ValueError, match="noise_ratio"):
        residual_nce_terms(torch.zeros(1), torch.zeros(1), 0)
