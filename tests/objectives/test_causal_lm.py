"""The causal-LM loss against a hand-computed case."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from textebm.objectives.causal_lm import IGNORE, causal_lm_loss


class TableModel(torch.nn.Module):
    """logits at position t = row x_t of a fixed table (a bigram model)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.table[input_ids])


def test_loss_sums_next_token_cross_entropy_at_the_targets():
    # After token 0: p = (1/4, 1/2, 1/4); after token 1: uniform over 3.
    table = torch.tensor([[0.0, math.log(2), 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    input_ids = torch.tensor([[0, 1, 2, 0]])
    # Position 0 is never a target; position 3 is padding. Targets: x_1 = 1 after 0, x_2 = 2
    # after 1.
    labels = torch.tensor([[IGNORE, 1, 2, IGNORE]])
    expected = -math.log(1 / 2) - math.log(1 / 3)
    loss = causal_lm_loss(TableModel(table), input_ids, labels)
    assert loss.dtype == torch.float32 and math.isclose(float(loss), expected, rel_tol=1e-6)
    # A label at position 0 cannot be predicted (nothing precedes it) and is ignored.
    labels[0, 0] = 2
    assert math.isclose(
        float(causal_lm_loss(TableModel(table), input_ids, labels)), expected, rel_tol=1e-6
    )
