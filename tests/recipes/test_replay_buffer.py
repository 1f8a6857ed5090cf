"""SequenceMatch's replay buffer: a bounded FIFO of model samples whose state survives a
checkpoint and which draws distinct samples while it has enough."""

from __future__ import annotations

import torch

from textebm.recipes.replay_buffer import ReplayBuffer, Sample


def test_buffer_state_round_trips_and_draws():
    buffer = ReplayBuffer(3)
    empty = ReplayBuffer(3)
    empty.load_state_dict(buffer.state_dict())
    assert len(empty) == 0 and empty.refreshes == 0
    buffer.add([Sample([1], [5, 6], True), Sample([1, 4], [], False)])
    buffer.add([Sample([1], [7], False), Sample([2], [8, 9, 3], True)])
    assert [s.actions for s in buffer.samples] == [[], [7], [8, 9, 3]]  # oldest dropped
    copy = ReplayBuffer(3)
    copy.load_state_dict(buffer.state_dict())
    assert copy.samples == buffer.samples and copy.refreshes == 2
    picks = buffer.draw(3, torch.Generator().manual_seed(0))
    assert sorted(map(str, picks)) == sorted(map(str, buffer.samples))  # distinct
    assert len(buffer.draw(5, torch.Generator())) == 5
