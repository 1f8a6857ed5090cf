"""The output layer run only at chosen rows: a mask or (rows, cols), same logits as in full."""

from __future__ import annotations

import torch

from textebm.models.output_rows import KeepRows, output_rows


class TwoLayers(torch.nn.Module):
    """A stand-in model: a body (batch, length, 4) -> (batch, length, 4), then a head to 3."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_a_mask_keeps_its_rows_in_order_and_the_hook_goes_away():
    torch.manual_seed(0)
    model, x = TwoLayers(), torch.randn(2, 5, 4)
    full = model(x)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 1] = mask[1, 3] = mask[1, 4] = True
    with output_rows(model.head, mask) as keep:
        kept = model(x)
    assert kept.shape == (3, 3)
    assert torch.allclose(kept, full[mask])
    assert keep.hidden.shape == (3, 4)
    assert torch.allclose(keep.hidden, model.body(x)[mask])
    assert model(x).shape == (2, 5, 3)  # removed on leaving the block


def test_rows_and_cols_pick_one_position_per_row_and_a_hook_is_reusable():
    torch.manual_seed(0)
    model, x = TwoLayers(), torch.randn(3, 5, 4)
    full = model(x)
    hook = KeepRows()
    for cols in (torch.tensor([4, 0, 2]), torch.tensor([1, 1, 3])):
        rows = torch.arange(3)
        with hook.on(model.head, (rows, cols)):
            assert torch.allclose(model(x), full[rows, cols])
    assert not model.head._forward_pre_hooks
