"""The cloze objective: maximum likelihood of every target token given all the others.

With q(. | x_{-t}) the cloze model's conditional at position t (`textebm.models.cloze`, which
sees every token but x_t) and T' the target positions of a batch (the ordinary tokens: not
[CLS], [SEP] or padding),

    L = sum_{t in T'} -log q(x_t | x_{-t}),

summed, not averaged (the loop divides by |T'| over the effective batch). Nothing is masked or
corrupted: the model's architecture, not the input, hides x_t from its own prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel


def cloze_loss(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """The summed cross-entropy at the target positions: a float32 scalar.

    model: a `ClozeModel`; input_ids, attention_mask: (batch, length) int64, right-padded;
    targets: (batch, length) bool. The vocabulary-sized output layer runs at the targets only.
    """
    left, right = model.context_states(input_ids, attention_mask)  # (batch, length, width) each
    logits = model.predict(left[targets], right[targets])  # (targets, vocab)
    return F.cross_entropy(logits.float(), input_ids[targets], reduction="sum")
