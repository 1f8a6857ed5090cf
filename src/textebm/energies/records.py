"""What `score_texts` hands back per text, shared by the energies that score token by token in
one padded batch (masked LM, Electric): the scored tokens, their terms, the unknown-word count,
and a mark on texts that `truncate` cut short."""

from __future__ import annotations

import torch
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.energies.base import EnergyOutput


def scored_records(
    tokenizer: PreTrainedTokenizerBase, input_ids: torch.Tensor, output: EnergyOutput
) -> list[tuple[float, list[str], list[float], int]]:
    """(energy, scored tokens, their energies, n_unk) of each row of `input_ids` (batch, length),
    over the positions `output.scored` marks."""
    records = []
    for i in range(input_ids.shape[0]):
        keep = output.scored[i]
        ids = input_ids[i][keep.cpu()].tolist()
        records.append(
            (
                float(output.energy[i]),
                tokenizer.convert_ids_to_tokens(ids),
                output.token_energies[i][keep].tolist(),
                ids.count(tokenizer.unk_token_id),
            )
        )
    return records


def mark_truncated(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], results: list, kept: list[int]
) -> None:
    """Set `scored_text` on each result whose text lost its end: its uncut tokenisation (special
    tokens added, tokenised once more) is longer than the `kept` token count."""
    full = tokenizer(texts, add_special_tokens=True)["input_ids"]
    for item, ids, length in zip(results, full, kept, strict=True):
        if len(ids) > length:
            item.scored_text = tokenizer.convert_tokens_to_string(item.tokens)
