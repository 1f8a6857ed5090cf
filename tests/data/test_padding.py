"""Right and left padding, by hand."""

from __future__ import annotations

import pytest
import torch

from textebm.data.padding import left_pad, right_pad


def test_right_pad_puts_rows_at_the_left():
    ids, mask = right_pad([[5, 6, 7], [8]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_right_pad_to_a_width_with_any_pad_and_tensor_rows():
    ids, mask = right_pad([torch.tensor([1, 2]), []], pad=-100, width=3)
    assert ids.tolist() == [[1, 2, -100], [-100, -100, -100]]
    assert mask.tolist() == [[1, 1, 0], [0, 0, 0]]


def test_left_pad_puts_rows_at_the_right():
    ids, mask = left_pad([[5, 6, 7], [8], []], pad=9)
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8], [9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_a_width_below_the_longest_row_is_refused():
    with pytest.raises(ValueError, match="shorter than the longest row"):
        right_pad([[1, 2, 3]], pad=0, width=2)
