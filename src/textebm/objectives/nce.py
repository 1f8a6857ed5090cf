"""Binary logistic noise-contrastive estimation: is this item data or noise?

With a model density p_hat, a noise density q and nu noise items per data item, NCE trains a
classifier whose posterior that an item x is noise is

    P(noise | x) = nu q(x) / (p_hat(x) + nu q(x)) = sigmoid(s),
    s = log nu + log q(x) - log p_hat(x),

so every NCE variant is one binary logistic loss on its own logit s (the "noise logit"):

    loss = -log sigmoid(s) for a noise item,  -log sigmoid(-s) = -log(1 - sigmoid(s)) for data.

Electric (`textebm.objectives.electric`) takes log p_hat = -E(x)_t and nu = k / (n - k); the
joint classifier + EBM objective takes its own. Computed as softplus(-s) and softplus(s), exact in
float32 for logits of any size (no log of a rounded-off sigmoid).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logistic_nce(noise_logit: torch.Tensor, is_noise: torch.Tensor) -> torch.Tensor:
    """The per-item loss: softplus(-s) where `is_noise`, softplus(s) elsewhere.

    noise_logit: (...) float, s = log-odds that the item is noise; is_noise: (...) bool.
    Returns (...) float32, unreduced (the caller sums over the items it counts).
    """
    s = noise_logit.float()
    return F.softplus(torch.where(is_noise, -s, s))
