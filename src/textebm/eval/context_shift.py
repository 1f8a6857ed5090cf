"""How much a per-token energy depends on context: shuffle each sentence and see how far each
token's energy moves.

An energy that reads only the word at its position (a unigram table) gives every token the same
energy in a sentence and in any shuffle of it, so its shift is 0; an energy that reads context
moves. Electric trained from scratch against strong noise can settle on such a context-free
solution while its NCE loss looks healthy (experiments/ptb_electric, "Diagnosis": shift 0.17
against an energy spread of about 2), so the Electric recipe reports this at every validation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

EnergyOf = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def shuffle_within_rows(ordinary: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """source (batch, length) int64: a uniform permutation of each row's ordinary positions among
    themselves, the identity elsewhere; the shuffled row is `input_ids.gather(1, source)`.

    ordinary: (batch, length) bool; the draws come from `generator` (on the CPU), one row after
    another, so the result depends only on `ordinary` and the generator's state.
    """
    source = torch.arange(ordinary.shape[1]).expand(ordinary.shape).clone()
    for row, mask in enumerate(ordinary.cpu()):
        positions = mask.nonzero().squeeze(1)
        source[row, positions] = positions[torch.randperm(len(positions), generator=generator)]
    return source.to(ordinary.device)


@torch.no_grad()
def context_shift(
    energy_of: EnergyOf,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    ordinary: torch.Tensor,
    generator: torch.Generator,
) -> tuple[float, float, int]:
    """(sum of |E(shuffled) - E(original)| per token, sum of squared deviations of the original
    energies from their row's mean, number of tokens), over the ordinary tokens of rows with at
    least two of them; each token is compared with itself at the place the shuffle moved it to.

    energy_of(input_ids, attention_mask) -> per-token energies (batch, length);
    input_ids, attention_mask: (batch, length); ordinary: (batch, length) bool.
    """
    rows = ordinary & (ordinary.sum(1, keepdim=True) >= 2)
    source = shuffle_within_rows(rows, generator)
    original = energy_of(input_ids, attention_mask).float()
    shuffled = energy_of(input_ids.gather(1, source), attention_mask).float()
    # shuffled[b, t] holds the token that stood at source[b, t]: compare it with itself there.
    shift = (shuffled - original.gather(1, source)).abs()[rows].sum()
    count = rows.sum(1, keepdim=True).clamp(min=1)
    row_mean = (original * rows).sum(1, keepdim=True) / count
    spread = ((original - row_mean) ** 2)[rows].sum()
    return float(shift), float(spread), int(rows.sum())
