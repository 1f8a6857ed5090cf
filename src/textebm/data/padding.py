"""Token rows of different lengths as one rectangular batch: right- or left-padded.

Right padding is the layout of every encoder and scorer here (row i's tokens at the left, its
attention mask 1 there); left padding is what generation needs, so that every row's next token
is written at the same, last, position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Rows = Sequence[Sequence[int] | torch.Tensor]


def _width(rows: Rows, width: int | None) -> int:
    longest = max((len(row) for row in rows), default=0)
    if width is None:
        return longest
    if width < longest:
        raise ValueError(f"width {width} is shorter than the longest row ({longest})")
    return width


def right_pad(rows: Rows, pad: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (len(rows), width) int64, each row at the left.

    rows: token ids (lists or 1-D tensors); pad: the id of the padding slots (any int, e.g. -1
    for word ids or -100 for labels); width: default the longest row.
    """
    width = _width(rows, width)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
    return input_ids, attention_mask


def left_pad(rows: Rows, pad: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (len(rows), width) int64, each row at the right."""
    width = _width(rows, width)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if len(row):  # an empty row would make the slice `width - 0:` the whole row
            input_ids[i, width - len(row) :] = torch.as_tensor(row, dtype=torch.long)
            attention_mask[i, width - len(row) :] = 1
    return input_ids, attention_mask
