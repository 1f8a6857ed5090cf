"""SequenceMatch's chi^2 loss on a tree MDP whose optimum is known in closed form: the data
policy is a stationary point, and gradient descent from uniform logits finds it."""

from __future__ import annotations

import math

import torch

from textebm.objectives.sequencematch import read_steps, sequencematch_chi2_loss

EOS = 2
NEG = float("-inf")

# A tree MDP over {a, b, eos} (gamma = 1/2) whose data distribution makes r = 0 reachable at the
# data policy: pi(.|s_0) = (1/2, 1/4, 1/4), pi(.|a) = (3/8, 3/8, 1/4) (cut after a second token),
# pi(.|b) = eos. Every ended sequence has sum_t g^t log pi = -log 4 (eos; a eos; b eos), so the
# chi^2 loss with model samples = data is minimised exactly at pi_data (module notes), with
# V(s_0) = log 4, V(a) = log 4, V(b) = 0, V_abs = 0 and V(a x) = 2 log(3/2).
A, B = 0, 1
TREE = [((EOS,), 4), ((A, EOS), 2), ((A, A), 3), ((A, B), 3), ((B, EOS), 4)]  # (actions, count/16)
TREE_STATES = [(), (A,), (B,), (EOS,), (A, EOS), (A, A), (A, B), (B, EOS)]
TREE_POLICY = {(): [1 / 2, 1 / 4, 1 / 4], (A,): [3 / 8, 3 / 8, 1 / 4], (B,): [0, 0, 1]}


def tree_batch(table):
    """(16, 3, 3) state logits of the 16 data sequences gathered from a (8, 3) logit table whose
    actions outside the data's support are -inf (states after eos keep only eos)."""
    allowed = torch.ones(len(TREE_STATES), 3, dtype=torch.bool)
    allowed[TREE_STATES.index((B,)), :EOS] = False
    for state in TREE_STATES:
        if state and state[-1] == EOS:
            allowed[TREE_STATES.index(state), :EOS] = False
    table = table.masked_fill(~allowed, NEG)
    sequences = [actions for actions, count in TREE for _ in range(count)]
    # Row k: the state after k actions; a one-action sequence repeats its last state as padding.
    rows = [[TREE_STATES.index(s[:k]) for k in range(3)] for s in sequences]
    logits = table[torch.tensor(rows)]  # (16, 3, 3)
    actions = torch.tensor([list(s) + [0] * (2 - len(s)) for s in sequences])
    mask = torch.tensor([[t < len(s) for t in range(2)] for s in sequences])
    ended = torch.tensor([s[-1] == EOS for s in sequences])
    return read_steps(logits, actions, mask, ended, EOS)


def tree_loss(table, w):
    """The chi^2 loss per sequence, model samples = the data (the loop's normalisation)."""
    steps = tree_batch(table)
    return sum(sequencematch_chi2_loss(steps, steps, 0.5, square_weight=w).values()) / 16


def test_chi2_loss_over_a_free_logit_table_is_minimised_at_the_data_policy():
    log = math.log
    optimum = torch.tensor(
        [
            [log(2), 0.0, 0.0],  # log pi(.|s_0) + log 4
            [log(3 / 2), log(3 / 2), 0.0],  # log pi(.|a) + log 4
            [0.0, 0.0, 0.0],  # b: eos only, V = 0
            *[[0.0, 0.0, 0.0]] * 2,  # absorbing rows: V_abs = l(eos) = 0
            *[[2 * log(3 / 2) - log(3)] * 3] * 2,  # cut states a a, a b: V = 2 log(3/2)
            [0.0, 0.0, 0.0],  # absorbing after b eos
        ],
        dtype=torch.float64,
        requires_grad=True,
    )
    steps = tree_batch(optimum)
    r = steps.q - 0.5 * steps.next_value
    assert torch.allclose(r[steps.mask], torch.zeros(()), atol=1e-6)  # r = 0 on every data step
    for w in (0.5, 0.1):
        (gradient,) = torch.autograd.grad(tree_loss(optimum, w), optimum)
        assert torch.allclose(gradient, torch.zeros((), dtype=gradient.dtype), atol=1e-6), w
    # Gradient descent from uniform logits finds the data policy.
    table = torch.zeros(len(TREE_STATES), 3, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [table], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe"
    )

    def closure():
        optimiser.zero_grad()
        loss = tree_loss(table, 0.5)
        loss.backward()
        return loss

    optimiser.step(closure)
    for state, expected in TREE_POLICY.items():
        row = table.detach()[TREE_STATES.index(state)]
        if state == (B,):
            continue  # eos only: its policy is fixed
        assert torch.allclose(
            row.softmax(0), torch.tensor(expected, dtype=torch.float64), atol=1e-3
        ), state
    assert float(tree_loss(table, 0.5)) <= float(tree_loss(optimum, 0.5)) + 1e-9
