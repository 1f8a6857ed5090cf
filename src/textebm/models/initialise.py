"""The weight initialisation textebm's own model types share (BERT's, as Hugging Face writes it)."""

from __future__ import annotations

import torch
from torch import nn


def init_standard(module: nn.Module, std: float) -> bool:
    """Initialise a Linear, Embedding or LayerNorm as BERT does, and say whether it was one.

    Linear and Embedding weights ~ normal(0, std), Linear biases 0 and an Embedding's padding
    row 0 (so padding adds nothing); LayerNorm weight 1, bias 0. Any other module is left to
    the caller's `_init_weights` (return False).
    """
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
        return True
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
        return True
    return False
