"""The replay buffer of SequenceMatch: sequences sampled from the model, kept between refreshes.

Each entry is one model sample: the prompt it continued, its actions (tokens and `<bkspc>`, its
eos included when it reached one) and whether it ended. The buffer is first in, first out: a
refresh appends its samples in order and the oldest beyond `capacity` are dropped. Its whole
content goes into every checkpoint as flat tensors (`state_dict`), so a resumed run draws from
the very same buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Sample:
    """One model sample: prompt ids (bos first), actions, and whether its last action is eos."""

    prompt: list[int]
    actions: list[int]
    ended: bool


def _flatten(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, lengths): the rows concatenated, as int64, and each row's length."""
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
    values = torch.tensor([v for row in rows for v in row], dtype=torch.long)
    return values, lengths


def _unflatten(values: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    return [chunk.tolist() for chunk in values.split(lengths.tolist())]


class ReplayBuffer:
    """First-in-first-out store of at most `capacity` samples, with a count of refreshes."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self.samples: list[Sample] = []
        self.refreshes = 0

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, samples: Sequence[Sample]) -> None:
        """Append one refresh's samples, dropping the oldest beyond the capacity."""
        self.samples = [*self.samples, *samples][-self.capacity :]
        self.refreshes += 1

    def draw(self, count: int, generator: torch.Generator) -> list[Sample]:
        """`count` samples: distinct while the buffer holds that many, else with replacement."""
        if not self.samples:
            raise ValueError("the replay buffer is empty")
        if count <= len(self.samples):
            picks = torch.randperm(len(self.samples), generator=generator)[:count]
        else:
            picks = torch.randint(len(self.samples), (count,), generator=generator)
        return [self.samples[i] for i in picks.tolist()]

    def state_dict(self) -> dict[str, torch.Tensor]:
        prompts, prompt_lengths = _flatten([s.prompt for s in self.samples])
        actions, action_lengths = _flatten([s.actions for s in self.samples])
        return {
            "buffer.prompts": prompts,
            "buffer.prompt_lengths": prompt_lengths,
            "buffer.actions": actions,
            "buffer.action_lengths": action_lengths,
            "buffer.ended": torch.tensor([s.ended for s in self.samples], dtype=torch.bool),
            "buffer.refreshes": torch.tensor(self.refreshes, dtype=torch.long),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        prompts = _unflatten(state["buffer.prompts"], state["buffer.prompt_lengths"])
        actions = _unflatten(state["buffer.actions"], state["buffer.action_lengths"])
        ended = state["buffer.ended"].tolist()
        self.samples = [Sample(p, a, e) for p, a, e in zip(prompts, actions, ended, strict=True)]
        self.refreshes = int(state["buffer.refreshes"])
