"""The prompt of the rewrite noise model (He et al. 2021), one layout for training and sampling:

    bos  m_1 .. m_j  eos      then the model writes   x_1 .. x_n  eos

m is the text's tokens x with each token replaced by the mask token with a probability, every run
of consecutive masks merged into one (so the prompt does not tell how many tokens were hidden).
bos is left out where the tokenizer has none distinct from eos (`causal_specials`).
"""

from __future__ import annotations

import torch


def masked_prompt(
    ids: list[int], mask_id: int, probability: float, generator: torch.Generator
) -> list[int]:
    """`ids` with each token replaced by `mask_id` with `probability`, runs of masks merged."""
    hidden = (torch.rand(len(ids), generator=generator) < probability).tolist()
    prompt: list[int] = []
    for token, masked in zip(ids, hidden, strict=True):
        if not masked:
            prompt.append(token)
        elif not prompt or prompt[-1] != mask_id:
            prompt.append(mask_id)
    return prompt


def rewrite_prompt(
    ids: list[int],
    bos: int | None,
    eos: int,
    mask_id: int,
    probability: float,
    generator: torch.Generator,
) -> list[int]:
    """`bos masked eos`: what the model reads before it writes the full text."""
    start = [] if bos is None else [bos]
    return start + masked_prompt(ids, mask_id, probability, generator) + [eos]


def longest_text(context_length: int) -> int:
    """The most tokens of a text that fit twice (prompt and rewrite) with bos and two eos."""
    return max(1, (context_length - 3) // 2)
