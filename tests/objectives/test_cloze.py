"""The cloze objective: the summed -log q(x_t | x_{-t}) at the targets, against a naive sum."""

from __future__ import annotations

import torch

from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.objectives.cloze import cloze_loss


def test_cloze_loss_is_the_summed_log_loss_at_the_targets():
    torch.manual_seed(0)
    model = ClozeModel(ClozeConfig(vocab_size=11, n_positions=8, n_embd=16, n_layer=1, n_head=2))
    model.eval()
    input_ids = torch.tensor([[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])
    attention_mask = (input_ids != 0).long()
    targets = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.bool)
    log_q = model(input_ids, attention_mask).logits.log_softmax(-1)
    expected = -sum(
        log_q[b, t, input_ids[b, t]] for b in range(2) for t in range(5) if targets[b, t]
    )
    torch.testing.assert_close(cloze_loss(model, input_ids, attention_mask, targets), expected)
