"""Noise augmentation for SequenceMatch: wrong tokens, each followed by `<bkspc>`, in the data.

Cundy & Ermon (2024) insert wrong tokens followed by a backspace into the data, so that the data
itself shows the model how to undo a mistake. Before each data token, independently with
probability `rate`, one noise token is inserted and deleted at once:

    data  x0 x1 x2        ->  actions  x0 n1 <bkspc> x1 x2      (noise chosen before x1)

Applying the actions (`actions.apply_actions`) gives the data back. The noise token is either
uniform over the ordinary vocabulary (`uniform_noise`) or drawn from a model's next-token
distribution in the state it is inserted into (`model_noise`); in both cases it is never the data
token it precedes (that would be a right token, deleted: a contradictory demonstration) nor a
special token or `<bkspc>` itself.

`is_noise` marks the inserted noise tokens: a data term (behavioural cloning, E_data[r]) must not
imitate them, so it is masked there, and KEPT at the `<bkspc>` after them, the action to imitate.
Randomness comes only from the `torch.Generator` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.models.backspace import backspace_id


@dataclass
class NoisyActions:
    """One data sequence with noise inserted.

    actions: the data tokens with each noise token and its `<bkspc>` in between.
    is_noise: per action, True at an inserted noise token (mask data terms there; the `<bkspc>`
        after it is False: it is imitated).
    """

    actions: list[int]
    is_noise: list[bool]


def ordinary_ids(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """(n,) int64 sorted ids of the tokenizer's ordinary tokens: neither special nor `<bkspc>`."""
    excluded = set(tokenizer.all_special_ids) | {backspace_id(tokenizer)}
    return torch.tensor(sorted(set(tokenizer.get_vocab().values()) - excluded), dtype=torch.long)


def splice_noise(
    data: Sequence[int], noise: Sequence[int], chosen: Sequence[bool], backspace: int
) -> NoisyActions:
    """Insert `noise[i] <bkspc>` before `data[i]` wherever `chosen[i]` (all of length len(data))."""
    actions, is_noise = [], []
    for token, wrong, insert in zip(data, noise, chosen, strict=True):
        if insert:
            actions += [int(wrong), backspace]
            is_noise += [True, False]
        actions.append(int(token))
        is_noise.append(False)
    return NoisyActions(actions, is_noise)


def _check(rate: float, candidates: torch.Tensor) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the noise rate must lie in [0, 1], not {rate}")
    if candidates.numel() < 2:
        raise ValueError("noise needs at least two candidate tokens (one may be the right one)")


def _chosen(lengths: list[int], rate: float, generator: torch.Generator) -> torch.Tensor:
    """(B, longest) bool: insert noise before this data token; False in the padding."""
    device = generator.device
    width = max(lengths)
    inside = torch.arange(width, device=device) < torch.tensor(lengths, device=device)[:, None]
    draws = torch.rand((len(lengths), width), generator=generator, device=device)
    return inside & (draws < rate)


def _splice_all(
    data: Sequence[Sequence[int]], noise: torch.Tensor, chosen: torch.Tensor, backspace: int
) -> list[NoisyActions]:
    noise, chosen = noise.tolist(), chosen.tolist()
    return [
        splice_noise(row, noise[b][: len(row)], chosen[b][: len(row)], backspace)
        for b, row in enumerate(data)
    ]


def uniform_noise(
    data: Sequence[Sequence[int]],
    rate: float,
    backspace: int,
    candidates: torch.Tensor,
    generator: torch.Generator,
) -> list[NoisyActions]:
    """Noise uniform over `candidates` (e.g. `ordinary_ids(tokenizer)`) minus the data token.

    data: B token lists (the actions after the prompt); rate: probability of a noise token
    before each data token; candidates: (n,) sorted int64 ids.
    """
    _check(rate, candidates)
    device = generator.device
    candidates = candidates.to(device)
    lengths = [len(row) for row in data]
    if not max(lengths, default=0):
        return [NoisyActions(list(row), [False] * len(row)) for row in data]
    chosen = _chosen(lengths, rate, generator)
    right, _ = right_pad(data, pad=-1)
    right = right.to(device)  # (B, W)
    # Uniform over candidates without the right token: draw r among the others, then skip over
    # the right token's index q (where it is a candidate at all).
    q = torch.searchsorted(candidates, right).clamp(max=len(candidates) - 1)
    present = candidates[q] == right
    count = len(candidates) - present.long()
    u = torch.rand(right.shape, generator=generator, device=device)
    r = (u * count).long().clamp(max=count - 1)
    noise = candidates[r + (present & (r >= q)).long()]
    return _splice_all(data, noise.cpu(), chosen.cpu(), backspace)


@torch.no_grad()
def model_noise(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    data: Sequence[Sequence[int]],
    rate: float,
    backspace: int,
    candidates: torch.Tensor,
    generator: torch.Generator,
    pad: int = 0,
) -> list[NoisyActions]:
    """Noise drawn from `model`'s next-token distribution in the state it enters, restricted to
    `candidates` minus the data token and renormalised: before data[i], from
    p(. | prompt + data[:i]). One forward pass over prompt + data gives every such state.

    prompts: B non-empty token lists; data: B token lists (the actions after the prompt); the
    generator must be on the model's device.
    """
    _check(rate, candidates)
    device = generator.device
    lengths = [len(row) for row in data]
    if not max(lengths, default=0):
        return [NoisyActions(list(row), [False] * len(row)) for row in data]
    chosen = _chosen(lengths, rate, generator)
    if any(not prompt for prompt in prompts):
        raise ValueError("a prompt is empty: the first state needs a token (start with bos)")
    rows = [[*prompt, *row] for prompt, row in zip(prompts, data, strict=True)]
    input_ids, attention = (tensor.to(device) for tensor in right_pad(rows, pad=pad))
    logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
    # The state before data[i] ends at row len(prompt) - 1 + i.
    width = chosen.shape[1]
    starts = torch.tensor([len(prompt) - 1 for prompt in prompts], device=device)
    index = (starts[:, None] + torch.arange(width, device=device)).clamp(max=logits.shape[1] - 1)
    states = logits.gather(1, index[..., None].expand(-1, -1, logits.shape[-1]))
    candidates = candidates.to(device)
    scores = states[..., candidates]  # (B, W, n)
    right, _ = right_pad(data, pad=-1)
    scores = scores.masked_fill(candidates == right.to(device)[..., None], -torch.inf)
    probs = scores.softmax(-1).flatten(0, 1)
    picks = torch.multinomial(probs, 1, generator=generator).view(chosen.shape)
    return _splice_all(data, candidates[picks].cpu(), chosen.cpu(), backspace)
