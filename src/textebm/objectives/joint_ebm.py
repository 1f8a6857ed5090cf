"""Joint classifier + energy-based training (He et al., EACL 2021): NCE in residual form.

The model of the inputs is residual: p(x) is proportional to p_noise(x) exp(-E(x)), so the
log-ratio of model to noise density is -E(x) and the noise model's own log-probability never
appears. With K noise examples per data example, NCE is binary logistic regression telling data
from noise, whose log-odds of "data" are

    s(x) = log p(x) - log(K p_noise(x)) = -E(x) - log K.

Per example, with softplus(z) = log(1 + exp(z)):

    data term   -log sigma(s(x))             = softplus(E(x) + log K) = log(1 + K exp(E(x)))
    noise term  -log(1 - sigma(s(x))) + log K = softplus(-E(x) - log K) + log K
                                               = log(K + exp(-E(x)))

The noise term is the reference code's: the textbook one plus the constant log K (same gradient,
different logged value). As there, a step takes one data batch and K noise batches, each batch's
loss averaged: NCE = mean_data(data term) + sum over the K noise batches of mean(noise term),
i.e. noise weighs K times the data. The classifier adds cross-entropy: loss = CE + lambda * NCE.

Both terms are `textebm.objectives.nce.logistic_nce` (shared with Electric) on the noise logit
E(x) + log K, so neither overflows for large |E|.
"""

from __future__ import annotations

import math

import torch

from textebm.objectives.nce import logistic_nce


def residual_nce_terms(
    data_energy: torch.Tensor, noise_energy: torch.Tensor, noise_ratio: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual-form NCE terms of the module notes, per example, unreduced.

    data_energy: (n_data,) E(x) of data examples; noise_energy: (n_noise,) E(x) of noise
    examples; noise_ratio: K >= 1, noise examples per data example.
    Returns (log(1 + K exp(E(x_data))) (n_data,), log(K + exp(-E(x_noise))) (n_noise,)).
    """
    if noise_ratio < 1:
        raise ValueError(f"noise_ratio must be at least 1, not {noise_ratio}")
    log_k = math.log(noise_ratio)
    # The log-odds that an example is noise: log K + log p_noise - log p = E(x) + log K.
    data_terms = logistic_nce(data_energy + log_k, torch.zeros_like(data_energy, dtype=torch.bool))
    noise_terms = logistic_nce(
        noise_energy + log_k, torch.ones_like(noise_energy, dtype=torch.bool)
    )
    return data_terms, noise_terms + log_k
