"""What `score_texts` hands back per text, shared by the energies that score token by token in
one padded batch (masked LM, Electric, causal LM): the scored tokens, their terms, the unknown-word
count, and a mark on texts that `truncate` cut short; and the length-sorted groups it scores in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.energies.base import EnergyOutput

Item = TypeVar("Item")


def grouped_records(
    items: list[Item],
    work: list[int],
    budget: int,
    score_group: Callable[[list[Item]], list[tuple]],
    progress: bool = False,
) -> list[tuple]:
    """`score_group`'s record of every item, in input order.

    Items are sorted by their `work` (stable; an energy passes work that grows with the length,
    so texts of similar length share passes) and handed to `score_group` in consecutive groups,
    each closed by the item that takes its work past `budget` (a group is never empty), so that
    memory stays bounded whatever the number of items. A tqdm bar counts texts if `progress`.
    """
    from tqdm.auto import tqdm

    order = sorted(range(len(items)), key=lambda i: work[i])
    records: list[tuple | None] = [None] * len(items)
    bar = tqdm(total=len(items), unit="text", disable=not progress)
    start = 0
    while start < len(order):
        end, total = start, 0
        while end < len(order) and (end == start or total <= budget):
            total += work[order[end]]
            end += 1
        group = order[start:end]
        for index, record in zip(group, score_group([items[i] for i in group]), strict=True):
            records[index] = record
        bar.update(len(group))
        start = end
    bar.close()
    return records  # type: ignore[return-value]


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
