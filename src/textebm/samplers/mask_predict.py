"""Mask-Predict (Ghazvininejad et al. 2019): a decoder, not a chain.

Iteration 0 masks every free position and predicts all of them from one pass; iteration
t = 1 .. T-1 re-masks the n = floor(N (T - t) / T) free positions predicted with the lowest
probability and predicts them again, the others staying as they are (N free positions, T
iterations). Prediction is argmax (the paper's, equivalent to block Gibbs at temperature 0) or,
with `sample=True`, a draw from the (temperature, top-k, top-p) proposal, for diversity. Cost: one
sequence per chain per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textebm.energies.base import Condition
from textebm.samplers.proposals import (
    Proposal,
    ProposalSource,
    masked_conditionals,
    sample,
    source_banned,
)


@dataclass(frozen=True)
class MaskPredictResult:
    """tokens: (chains, length) int64; confidence: (chains, length) log-probability of each free
    token when last predicted (0 elsewhere); masked: positions re-predicted at each iteration
    (summed over chains); history: the tokens after each iteration."""

    tokens: torch.Tensor
    confidence: torch.Tensor
    iterations: int
    masked: list[int]
    history: list[torch.Tensor]


@torch.no_grad()
def mask_predict(
    source: ProposalSource,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor,
    free: torch.Tensor,
    iterations: int = 10,
    sample_tokens: bool = False,
    proposal: Proposal | None = None,
    generator: torch.Generator | None = None,
    condition: Condition | None = None,
) -> MaskPredictResult:
    """Decode the free positions of every chain with `iterations` rounds of mask-predict.

    condition: one row per chain, handed to a conditional source (a CMLM: the source sentence).
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, not {iterations}")
    if sample_tokens and generator is None:
        raise ValueError("sampling needs a generator")
    proposal = proposal or Proposal()
    banned = source_banned(source)
    tokens = tokens.clone()
    confidence = torch.zeros(tokens.shape, device=tokens.device)
    n = free.sum(dim=1)
    masked_counts, history = [], []
    mask = free.clone()
    for t in range(iterations):
        if t > 0:
            count = torch.div(n * (iterations - t), iterations, rounding_mode="floor")
            key = confidence.masked_fill(~free, float("inf"))
            rank = torch.argsort(torch.argsort(key, dim=1, stable=True), dim=1)
            mask = free & (rank < count.unsqueeze(1))
        masked_counts.append(int(mask.sum()))
        if not mask.any():  # fewer free positions than iterations: nothing left to redo
            history.append(tokens.clone())
            continue
        conditionals = masked_conditionals(source, tokens, attention_mask, mask, condition)
        row, col = mask.nonzero(as_tuple=True)
        log_probs = proposal.log_probs(conditionals.logits(row, col), banned)
        chosen = sample(log_probs, generator) if sample_tokens else log_probs.argmax(dim=1)
        tokens[row, col] = chosen
        confidence[row, col] = log_probs.gather(1, chosen.unsqueeze(1)).squeeze(1)
        history.append(tokens.clone())
    return MaskPredictResult(tokens, confidence, iterations, masked_counts, history)
