"""The backspace loop of issue 13 on a tabular toy: behavioural cloning learns the data's
backspace rate; SequenceMatch-chi^2 at w = 1/2 inflates it until greedy decoding loops; a smaller
square weight keeps it near the data rate; banning deleted tokens stops any greedy cycle.

The data's backspace rate in a state (0, y), by hand: an answer `0 y` reaches it and then ends
(eos, imitated once per answer; a noise token there is not imitated), which happens for 1/D of
the answers; an answer `0 Y`, Y != y, reaches it only through the noise `y <bkspc>` before Y
(rate p, then the wrong digit y with probability 1/(D - 1)), imitated: p/D of the answers. So
pi_data(<bkspc> | (0, y)) = (p/D) / (p/D + 1/D) = p / (1 + p), whatever D.
"""

from __future__ import annotations

import pytest
import torch

from textebm.eval.backspace_toy import (
    ToyConfig,
    log_policy_push,
    noisy_answers,
    rollout,
    train_toy,
)

DATA_RATE = 0.1 / 1.1  # p / (1 + p) at the default noise rate p = 0.1


def backspace_rate(states, table) -> float:
    """Mean over y of pi(<bkspc> | (0, y))."""
    config = states.config
    rates = [float(states.policy(table, (0, y))[config.backspace]) for y in range(config.digits)]
    return sum(rates) / len(rates)


def repeated_pairs(states, actions: list[int]) -> int:
    """How many (state, action) pairs of a trajectory repeat an earlier one: a cycle."""
    pairs = list(zip(states.walk(actions), actions, strict=False))
    return len(pairs) - len(set(pairs))


@pytest.fixture(scope="module")
def sequencematch_half():
    """SequenceMatch-chi^2 alone after the warm-up, w = 1/2 (the default)."""
    return train_toy(ToyConfig())


def test_behavioural_cloning_learns_the_data_backspace_rate():
    states, table = train_toy(ToyConfig(sequencematch=False))
    assert backspace_rate(states, table) == pytest.approx(DATA_RATE, abs=0.03)
    (greedy,) = rollout(states, table, 1, torch.Generator(), greedy=True)
    assert greedy.ended and len(greedy.actions) == 3  # 0 y eos


def test_sequencematch_at_half_inflates_the_backspace_and_greedy_loops(sequencematch_half):
    states, table = sequencematch_half
    config = states.config
    assert backspace_rate(states, table) > 3 * DATA_RATE
    (greedy,) = rollout(states, table, 1, torch.Generator(), greedy=True)
    # 0 y <bkspc> y <bkspc> ...: never ends, and cycles.
    assert not greedy.ended and set(greedy.actions[2::2]) == {config.backspace}
    assert repeated_pairs(states, greedy.actions) >= 4
    # Banning deleted tokens stops the cycle (the policy itself still prefers deleting).
    (banned,) = rollout(states, table, 1, torch.Generator(), greedy=True, ban_deleted=True)
    assert repeated_pairs(states, banned.actions) == 0


def test_the_model_square_term_is_what_pushes_the_backspace_up(sequencematch_half):
    """In state (0,) -- an answer's first, right token -- the gradient of E_model[r^2] raises
    log pi(<bkspc>) while the data's reward term (maximum likelihood in disguise) lowers it."""
    states, table = sequencematch_half
    config = states.config
    generator = torch.Generator().manual_seed(3)
    data = noisy_answers(config, 2000, generator)
    samples = rollout(states, table, 2000, generator)
    push = log_policy_push(states, table, data, samples, (0,))
    assert float(push["model_square"][config.backspace]) > 0.01
    assert float(push["data_reward"][config.backspace]) < -0.005
    assert float(push["model_square"][config.backspace]) > -float(
        push["data_square"][config.backspace]
    )


def test_a_smaller_square_weight_keeps_the_backspace_near_its_data_rate(sequencematch_half):
    states, table = train_toy(ToyConfig(square_weight=0.05))
    rate = backspace_rate(states, table)
    assert rate < 2.2 * DATA_RATE and rate < backspace_rate(*sequencematch_half) / 2
    (greedy,) = rollout(states, table, 1, torch.Generator(), greedy=True)
    assert greedy.ended and len(greedy.actions) == 3
