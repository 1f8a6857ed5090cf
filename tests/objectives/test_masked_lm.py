"""The masked-LM corruption and loss, against hand-computed cases."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from textebm.objectives.masked_lm import IGNORE, mask_tokens, masked_lm_loss


class TableModel(torch.nn.Module):
    """logits at position i = row x_i of a fixed table: a model whose outputs are known."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.out = torch.nn.Linear(len(table), table.shape[1], bias=False)
        self.out.weight.data = table.T.clone()

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.out

    def forward(self, input_ids, attention_mask=None):
        hidden = torch.nn.functional.one_hot(input_ids, self.out.in_features).float()
        return SimpleNamespace(logits=self.out(hidden))


def test_loss_is_the_summed_cross_entropy_at_labelled_positions_only():
    # Vocabulary of 3; token 0 predicts (0, log 2, 0), token 1 predicts (0, 0, 0).
    table = torch.tensor([[0.0, math.log(2), 0.0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    model = TableModel(table)
    input_ids = torch.tensor([[0, 1, 2]])
    labels = torch.tensor([[1, 2, IGNORE]])
    # -log(2/4) at position 0 (target 1), -log(1/3) at position 1; position 2 unlabelled.
    expected = math.log(2) + math.log(3)
    loss = masked_lm_loss(model, input_ids, torch.ones_like(input_ids), labels).detach()
    assert loss.dtype == torch.float32 and math.isclose(float(loss), expected, rel_tol=1e-6)
    # The hook that keeps only the labelled rows is removed afterwards.
    assert model(input_ids).logits.shape == (1, 3, 3)


def test_corruption_chooses_only_maskable_positions_at_the_bert_rates():
    input_ids = torch.randint(10, 20, (400, 50), generator=torch.Generator().manual_seed(0))
    maskable = torch.ones_like(input_ids, dtype=torch.bool)
    maskable[:, :5] = False
    replacement = torch.tensor([30, 31])
    before = input_ids.clone()
    corrupted, labels = mask_tokens(
        input_ids,
        maskable,
        torch.Generator().manual_seed(1),
        probability=0.15,
        mask_id=99,
        replacement_ids=replacement,
    )
    assert torch.equal(input_ids, before)  # the input is left unchanged
    chosen = labels != IGNORE
    assert not chosen[:, :5].any()
    assert abs(float(chosen.sum()) / maskable.sum() - 0.15) < 0.01
    assert torch.equal(labels[chosen], before[chosen])
    assert torch.equal(corrupted[~chosen], before[~chosen])
    outcome = corrupted[chosen]
    assert abs(float((outcome == 99).float().mean()) - 0.8) < 0.02
    assert abs(float(torch.isin(outcome, replacement).float().mean()) - 0.1) < 0.02
    assert abs(float((outcome == before[chosen]).float().mean()) - 0.1) < 0.02
    again = mask_tokens(
        input_ids,
        maskable,
        torch.Generator().manual_seed(1),
        probability=0.15,
        mask_id=99,
        replacement_ids=replacement,
    )
    assert torch.equal(again[0], corrupted) and torch.equal(again[1], labels)
