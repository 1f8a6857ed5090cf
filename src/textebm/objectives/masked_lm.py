"""The masked-LM objective (BERT): corrupt some tokens, predict the originals.

Corruption (`mask_tokens`): each maskable token i is chosen independently with probability p
(0.15); a chosen token becomes [MASK] with probability 0.8, a token drawn uniformly from the
replacement set with probability 0.1, and stays itself with probability 0.1. With C the chosen
positions of a batch and x~ the corrupted tokens, the loss (`masked_lm_loss`) is

    L = sum_{i in C} -log softmax(f(x~)_i)[x_i],

the summed cross-entropy at the chosen positions only (the loop divides by |C| over the
effective batch). The output layer, vocabulary-sized, runs only at the chosen positions (a forward
pre-hook keeps only their rows): with a 10k-word vocabulary it is most of a small model's work at
every position, so this, not the transformer, is where plain BERT training spends its time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from textebm.models.output_rows import output_rows

IGNORE = -100  # the label of a position that is not predicted (transformers' convention)


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    generator: torch.Generator,
    *,
    probability: float,
    mask_id: int,
    replacement_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 corruption of `input_ids`, seeded by `generator`.

    input_ids: (batch, length) int64; maskable: (batch, length) bool, the positions that may be
    chosen; replacement_ids: (n,) int64, the tokens a random replacement draws from.
    Returns (corrupted input_ids, labels), both (batch, length) int64; labels hold the original
    token at chosen positions and IGNORE elsewhere. `input_ids` itself is left unchanged.
    """
    input_ids = input_ids.clone()
    draw = torch.rand(input_ids.shape, generator=generator)
    chosen = maskable & (draw < probability)
    labels = torch.where(chosen, input_ids, IGNORE)
    action = torch.rand(input_ids.shape, generator=generator)
    input_ids[chosen & (action < 0.8)] = mask_id
    randomised = chosen & (action >= 0.8) & (action < 0.9)
    picks = torch.randint(len(replacement_ids), (int(randomised.sum()),), generator=generator)
    input_ids[randomised] = replacement_ids[picks]
    return input_ids, labels


def masked_lm_loss(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """The summed cross-entropy at the positions whose label is not IGNORE: a float32 scalar.

    input_ids, attention_mask, labels: (batch, length) int64, as `mask_tokens` makes them.
    """
    chosen = labels != IGNORE
    with output_rows(model.get_output_embeddings(), chosen):
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (n, vocab)
    return F.cross_entropy(logits.float(), labels[chosen], reduction="sum")
