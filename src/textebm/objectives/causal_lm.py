"""The causal-LM objective (GPT-2): next-token cross-entropy.

With tokens x_1..x_T of a block and T' the positions t > 1 whose label is a target,

    L = sum_{t in T'} -log p(x_t | x_<t) = sum_{t in T'} -log softmax(f(x)_{t-1})[x_t],

summed, not averaged (the loop divides by |T'| over the effective batch). Which positions are
targets is the recipe's choice (`textebm.recipes.clm`: every token but a bos, which always follows
an eos and would only flatter the loss); non-targets carry the label IGNORE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

IGNORE = -100  # the label of a position that is not predicted (transformers' convention)


def causal_lm_loss(
    model: PreTrainedModel, input_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """The summed next-token cross-entropy at the target positions: a float32 scalar.

    input_ids: (batch, length) int64; labels: (batch, length) int64, labels[:, t] the target of
    position t (predicted from positions < t) or IGNORE. Right padding needs no attention mask:
    causal attention never looks ahead, and padding positions carry IGNORE.
    """
    logits = model(input_ids=input_ids).logits
    # Shift the labels, not the logits: slicing the logits would copy all of them.
    labels = F.pad(labels[:, 1:], (0, 1), value=IGNORE)
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), reduction="sum")
