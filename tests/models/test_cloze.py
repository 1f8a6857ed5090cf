"""The two-tower cloze model: normalised conditionals, blind to x_t, equal to a naive loop."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

from textebm.models.cloze import ClozeConfig, ClozeModel, reverse_rows

VOCAB = 13


@pytest.fixture(scope="module")
def model() -> ClozeModel:
    torch.manual_seed(0)
    config = ClozeConfig(
        vocab_size=VOCAB, n_positions=16, n_embd=16, n_layer=2, n_head=2, dropout=0.0
    )
    model = ClozeModel(config).eval()
    with torch.no_grad():  # boundary states and biases away from their zero-ish initialisation
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Three right-padded rows of lengths 7, 4 and 1 (padding id 0)."""
    input_ids = torch.randint(1, VOCAB, (3, 7), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    for row, length in ((1, 4), (2, 1)):
        input_ids[row, length:] = 0
        attention_mask[row, length:] = 0
    return input_ids, attention_mask


def naive_log_q(model: ClozeModel, ids: list[int]) -> torch.Tensor:
    """log q(. | x_{-t}) for one unpadded sequence, one position at a time: (length, vocab).

    The left tower reads x_<t alone, the right tower x_>t reversed alone; no padding, no gather.
    """
    rows = []
    for t in range(len(ids)):
        if t > 0:
            left = model.left(input_ids=torch.tensor([ids[:t]])).last_hidden_state[0, -1]
        else:
            left = model.left_start
        if t < len(ids) - 1:
            reversed_right = torch.tensor([ids[t + 1 :][::-1]])
            right = model.right(input_ids=reversed_right).last_hidden_state[0, -1]
        else:
            right = model.right_end
        rows.append(model.predict(left, right).log_softmax(-1))
    return torch.stack(rows)


@torch.no_grad()
def test_q_sums_to_one_and_equals_a_naive_per_position_computation(model):
    input_ids, attention_mask = batch()
    log_q = model(input_ids, attention_mask).logits.log_softmax(-1)  # (3, 7, vocab)
    torch.testing.assert_close(log_q.exp().sum(-1), torch.ones(3, 7))
    for row in range(3):
        length = int(attention_mask[row].sum())
        expected = naive_log_q(model, input_ids[row, :length].tolist())
        torch.testing.assert_close(log_q[row, :length], expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_the_prediction_at_t_does_not_depend_on_x_t_but_on_its_neighbours(model):
    input_ids, attention_mask = batch()
    base = model(input_ids, attention_mask).logits
    for t in range(7):
        changed = input_ids.clone()
        changed[0, t] = 1 + changed[0, t] % (VOCAB - 1)  # another real token
        logits = model(changed, attention_mask).logits
        torch.testing.assert_close(logits[0, t], base[0, t])
        others = [s for s in range(7) if s != t]
        assert not torch.allclose(logits[0, others], base[0, others])  # but it is context
        torch.testing.assert_close(logits[1:], base[1:])  # rows do not mix


@torch.no_grad()
def test_padding_changes_nothing(model):
    input_ids, attention_mask = batch()
    padded = model(input_ids, attention_mask).logits
    alone = model(input_ids[1:2, :4]).logits
    torch.testing.assert_close(padded[1, :4], alone[0])


def test_reverse_rows_reverses_the_real_tokens_only():
    values = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    reversed_ = reverse_rows(values, torch.tensor([3, 2]))
    assert reversed_.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    assert torch.equal(reverse_rows(reversed_, torch.tensor([3, 2])), values)


def test_round_trip_through_auto_model(model, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ClozeModel)
    input_ids, attention_mask = batch()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids, attention_mask).logits, model(input_ids, attention_mask).logits
        )
