"""Electric's NCE objective: a hand-computed case, its sampling steps, and recovery on a toy."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.objectives.electric import (
    choose_positions,
    corrupt,
    electric_loss,
    noise_log_probs,
    noise_logits,
    sequence_sizes,
)
from textebm.objectives.nce import logistic_nce


def test_logistic_nce_by_hand():
    s = torch.tensor([0.0, 2.0, -3.0, 60.0, -60.0])
    noise = torch.tensor([True, False, True, True, False])
    expected = [math.log(2), math.log(1 + math.exp(2)), math.log(1 + math.exp(3)), 0.0, 0.0]
    torch.testing.assert_close(logistic_nce(s, noise), torch.tensor(expected))
    # Large logits stay exact: -log sigmoid(-60) = 60, not log(0).
    assert float(logistic_nce(torch.tensor(-60.0), torch.tensor(True))) == pytest.approx(60.0)


def test_the_loss_of_algorithm_2_by_hand():
    """Row 0: [CLS] a b c [SEP], n = 3, k = max(1, round(0.45)) = 1, n - k = 2, position 2 replaced
    (by the same token it held: still noise). Row 1: [CLS] a [SEP] [PAD] [PAD], n = 1: no loss."""
    ordinary = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.bool)
    chosen = torch.tensor([[0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    energies = torch.tensor([[9.0, 0.5, -1.0, 2.0, 9.0], [9.0, 0.1, 9.0, 9.0, 9.0]])
    q = torch.tensor([[0.9, 0.2, 0.5, 0.1, 0.9], [0.9, 0.3, 0.9, 0.9, 0.9]])
    n, k = 3, 1
    p_hat = [math.exp(-e) for e in (0.5, -1.0, 2.0)]
    data_1 = -math.log((n - k) * p_hat[0] / ((n - k) * p_hat[0] + k * 0.2))
    noise_2 = -math.log(k * 0.5 / ((n - k) * p_hat[1] + k * 0.5))
    data_3 = -math.log((n - k) * p_hat[2] / ((n - k) * p_hat[2] + k * 0.1))
    loss = electric_loss(energies, q.log(), chosen, ordinary)
    assert float(loss) == pytest.approx(data_1 + noise_2 + data_3, rel=1e-6)
    # The reference code's constant prior: log(0.15 / 0.85) in place of log(1 / 2).
    s = noise_logits(energies, q.log(), ordinary, prior="constant")
    assert float(s[0, 2]) == pytest.approx(-1.0 + math.log(0.5) + math.log(0.15 / 0.85))
    constant = electric_loss(energies, q.log(), chosen, ordinary, prior="constant")
    by_hand = sum(
        math.log1p(math.exp(sign * (e + math.log(p) + math.log(0.15 / 0.85))))
        for e, p, sign in ((0.5, 0.2, 1), (-1.0, 0.5, -1), (2.0, 0.1, 1))
    )
    assert float(constant) == pytest.approx(by_hand, rel=1e-6)


def test_sizes_follow_round_of_fifteen_percent_and_skip_short_rows():
    lengths = torch.arange(0, 61)
    ordinary = torch.arange(61)[None, :] < lengths[:, None]
    n, k = sequence_sizes(ordinary)
    assert n.tolist() == lengths.tolist()
    assert k.tolist() == [max(1, round(0.15 * m)) if m >= 2 else 0 for m in range(61)]


def test_choices_are_k_uniform_ordinary_positions():
    ordinary = torch.zeros(2, 12, dtype=torch.bool)
    ordinary[0, 1:11] = ordinary[1, 1] = True  # n = 10 and n = 1
    ordinary = ordinary.repeat(2000, 1)
    chosen = choose_positions(ordinary, torch.Generator().manual_seed(0))
    assert not (chosen & ~ordinary).any()
    assert chosen[0::2].sum(1).eq(2).all() and not chosen[1::2].any()  # n = 10: k = round(1.5)
    frequency = chosen[0::2, 1:11].float().mean(0)  # each position with probability k / n = 0.2
    assert (frequency - 0.2).abs().max() < 0.03


def test_corruption_draws_from_q_and_reads_q_of_the_token_now_there():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 3, 6, generator=generator)
    log_q = noise_log_probs(logits, torch.tensor([0, 5]))  # ids 0 and 5 never drawn
    assert torch.isneginf(log_q[..., [0, 5]]).all()
    torch.testing.assert_close(log_q.exp().sum(-1), torch.ones(4000, 3))
    input_ids = torch.full((4000, 3), 2)
    chosen = torch.tensor([False, True, False]).repeat(4000, 1)
    corrupted, read = corrupt(input_ids, log_q, chosen, generator)
    assert torch.equal(corrupted[:, [0, 2]], input_ids[:, [0, 2]])
    torch.testing.assert_close(read, log_q.gather(-1, corrupted[..., None])[..., 0])
    # Averaged over rows, the draws at position 1 follow the mean of the rows' q.
    counts = torch.bincount(corrupted[:, 1], minlength=6).float() / 4000
    assert (counts - log_q[:, 1].exp().mean(0)).abs().max() < 0.03


def test_gradient_descent_recovers_the_data_distribution():
    """Tokens i.i.d. from p over 4 words, noise q fixed and non-uniform, sequence lengths 2-8;
    Electric's energies are free per-word parameters e. NCE's optimum is exp(-e) = p."""
    generator = torch.Generator().manual_seed(0)
    p = torch.tensor([0.4, 0.3, 0.2, 0.1])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    e = torch.zeros(4, requires_grad=True)
    optimizer = torch.optim.Adam([e], lr=0.1)
    for step in range(200):
        if step == 150:  # a smaller step at the end, to settle on the optimum
            optimizer.param_groups[0]["lr"] = 0.01
        lengths = torch.randint(2, 9, (1024,), generator=generator)
        ordinary = torch.arange(8)[None, :] < lengths[:, None]
        tokens = torch.multinomial(p, 1024 * 8, replacement=True, generator=generator)
        tokens = tokens.view(1024, 8)
        chosen = choose_positions(ordinary, generator)
        corrupted, log_q = corrupt(tokens, q.log().expand(1024, 8, 4), chosen, generator)
        loss = electric_loss(e[corrupted], log_q, chosen, ordinary) / ordinary.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    recovered = torch.exp(-e.detach())
    assert (recovered - p).abs().max() < 0.02, recovered


def test_a_uniform_share_mixes_into_q_by_hand_and_draws_follow_the_mixture():
    """Vocabulary of 4, id 0 excluded: q_model = softmax over ids 1-3 of logits (0, log 2, log 5)
    = (1/8, 2/8, 5/8); with u = 0.3 over the 3 drawable ids, q = 0.7 q_model + 0.1."""
    logits = torch.tensor([[[7.0, 0.0, math.log(2), math.log(5)]]]).expand(3000, 1, 4)
    log_q = noise_log_probs(logits, torch.tensor([0]), uniform=0.3)
    expected = torch.tensor([0.0, 0.7 / 8 + 0.1, 1.4 / 8 + 0.1, 3.5 / 8 + 0.1])
    torch.testing.assert_close(log_q[0, 0].exp(), expected)
    assert torch.isneginf(log_q[..., 0]).all()
    torch.testing.assert_close(
        noise_log_probs(logits, torch.tensor([0]), 0.0)[0, 0].exp(),
        torch.tensor([0.0, 1 / 8, 2 / 8, 5 / 8]),
    )
    generator = torch.Generator().manual_seed(0)
    chosen = torch.ones(3000, 1, dtype=torch.bool)
    corrupted, read = corrupt(torch.ones(3000, 1, dtype=torch.long), log_q, chosen, generator)
    counts = torch.bincount(corrupted[:, 0], minlength=4).float() / 3000
    assert (counts - expected).abs().max() < 0.03
    torch.testing.assert_close(read[:, 0], expected.log()[corrupted[:, 0]])
    with pytest.raises(ValueError, match="uniform"):
        noise_log_probs(logits, torch.tensor([0]), uniform=1.0)
