"""`Condition`: what a conditional energy gets beside the tokens, one row per sequence."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import Condition, MaskedLMEnergy
from textebm.energies.base import select_condition


def test_select_and_len_keep_rows_aligned():
    condition = Condition(
        labels=torch.tensor([0, 1, 2]),
        input_ids=torch.tensor([[5, 6, 0], [7, 0, 0], [8, 9, 10]]),
        attention_mask=torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]]),
    )
    assert len(condition) == 3
    picked = condition.select(torch.tensor([2, 0]))
    assert picked.labels.tolist() == [2, 0]
    assert picked.input_ids.tolist() == [[8, 9, 10], [5, 6, 0]]
    assert picked.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    by_mask = condition.select(torch.tensor([False, True, False]))
    assert by_mask.labels.tolist() == [1] and by_mask.input_ids.tolist() == [[7, 0, 0]]
    assert select_condition(None, torch.tensor([0])) is None
    assert condition.to("cpu").labels.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({}, "needs labels or input_ids"),
        ({"labels": torch.zeros(2, 1)}, "labels must be"),
        ({"input_ids": torch.zeros(3)}, "input_ids must be"),
        ({"labels": torch.zeros(2), "input_ids": torch.zeros(3, 4)}, "disagree on the batch"),
        ({"input_ids": torch.zeros(2, 4), "attention_mask": torch.zeros(2, 3)}, "shape"),
        ({"labels": torch.zeros(2), "attention_mask": torch.zeros(2, 3)}, "needs its input_ids"),
    ],
)
def test_malformed_conditions_are_refused(parts, message):
    with pytest.raises(ValueError, match=message):
        Condition(**parts)


def test_masked_lm_energy_rejects_a_condition(wordlevel):
    energy = MaskedLMEnergy(*wordlevel)
    tokens = torch.tensor([[2, 5, 6, 3]])
    assert energy(tokens, condition=None).energy.shape == (1,)
    with pytest.raises(ValueError, match="the masked-LM energy is unconditional"):
        energy(tokens, condition=Condition(labels=torch.tensor([1])))
