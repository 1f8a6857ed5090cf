"""init_standard: BERT's initialisation of Linear, Embedding and LayerNorm; others left alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from textebm.models.initialise import init_standard


def test_linear_and_embedding_weights_are_normal_with_zero_biases_and_padding_row():
    torch.manual_seed(0)
    linear, embedding = nn.Linear(200, 300), nn.Embedding(500, 200, padding_idx=3)
    for module in (linear, embedding):
        assert init_standard(module, std=0.05)
    assert linear.weight.std().item() == pytest.approx(0.05, rel=0.02)
    assert linear.weight.mean().item() == pytest.approx(0.0, abs=0.002)
    assert torch.all(linear.bias == 0)
    assert torch.all(embedding.weight[3] == 0)
    rows = torch.cat([embedding.weight[:3], embedding.weight[4:]])
    assert rows.std().item() == pytest.approx(0.05, rel=0.02)


def test_layer_norm_is_one_and_zero():
    norm = nn.LayerNorm(8)
    with torch.no_grad():
        norm.weight.fill_(3.0)
        norm.bias.fill_(2.0)
    assert init_standard(norm, std=0.05)
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_any_other_module_is_left_to_the_caller():
    attention = nn.MultiheadAttention(8, 2)
    before = {name: value.clone() for name, value in attention.state_dict().items()}
    assert not init_standard(attention, std=0.05)
    after = attention.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
