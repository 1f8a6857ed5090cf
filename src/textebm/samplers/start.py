"""Where chains start, and which positions they may change (conditioning).

- `from_lengths`: all-[MASK] sequences of chosen lengths (one per chain: a length distribution is
  just different lengths), optionally after a fixed prefix;
- `from_text`: a given text; with `fixed=True` it is a template whose [MASK]s are the only free
  positions (infilling `the [MASK] sat on the [MASK]`), otherwise every token is free.
Every [MASK] at a free position is filled by the kernel's `init` before the chain proper starts.
Lengths count tokens without special tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textebm.data.padding import right_pad


@dataclass(frozen=True)
class Start:
    """tokens, attention_mask: (chains, length) int64, right-padded; free: (chains, length) bool."""

    tokens: torch.Tensor
    attention_mask: torch.Tensor
    free: torch.Tensor

    def astuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.tokens, self.attention_mask, self.free

    def to(self, device: torch.device | str) -> Start:
        return Start(self.tokens.to(device), self.attention_mask.to(device), self.free.to(device))


def _wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text (e.g. [CLS], [SEP])."""
    ids = tokenizer(tokenizer.mask_token, add_special_tokens=True)["input_ids"]
    at = ids.index(tokenizer.mask_token_id)
    return ids[:at], ids[at + 1 :]


def _batch(tokenizer, rows: list[tuple[list[int], list[bool]]]) -> Start:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tokens, attention = right_pad([ids for ids, _ in rows], pad)
    free, _ = right_pad([[int(f) for f in row_free] for _, row_free in rows], 0)
    return Start(tokens, attention, free.bool())


def _content(tokenizer, text: str) -> list[int]:
    return tokenizer(text.replace("[MASK]", tokenizer.mask_token), add_special_tokens=False)[
        "input_ids"
    ]


def from_lengths(tokenizer, lengths: list[int], prefix: str | None = None) -> Start:
    """One chain per entry of `lengths`: that many tokens in all, the prefix's (fixed) included,
    the rest [MASK] and free."""
    lead, trail = _wrapping(tokenizer)
    fixed = _content(tokenizer, prefix) if prefix else []
    rows = []
    for length in lengths:
        if length <= len(fixed):
            raise ValueError(
                f"length {length} leaves nothing to sample after a prefix of {len(fixed)} tokens"
            )
        n = length - len(fixed)
        ids = lead + fixed + [tokenizer.mask_token_id] * n + trail
        row_free = [False] * (len(lead) + len(fixed)) + [True] * n + [False] * len(trail)
        rows.append((ids, row_free))
    return _batch(tokenizer, rows)


def from_text(tokenizer, text: str, chains: int, fixed: bool = False) -> Start:
    """`chains` copies of `text` ("[MASK]" is the tokenizer's mask token). fixed: only the masks
    are free; otherwise every token is free, and special tokens in it ([UNK]) become masks."""
    lead, trail = _wrapping(tokenizer)
    content = _content(tokenizer, text)
    if not content:
        raise ValueError("the text has no tokens")
    mask_id = tokenizer.mask_token_id
    special = set(tokenizer.all_special_ids)
    if fixed:
        row_free = [token == mask_id for token in content]
        if not any(row_free):
            raise ValueError(f"a fixed template needs at least one {tokenizer.mask_token}")
    else:
        row_free = [True] * len(content)
        content = [mask_id if token in special else token for token in content]
    ids = lead + content + trail
    row_free = [False] * len(lead) + row_free + [False] * len(trail)
    return _batch(tokenizer, [(ids, row_free)] * chains)


def chain_lengths(start: Start, tokenizer) -> list[int]:
    """(chains,) each chain's length as asked for: its tokens, special ones excluded, [MASK]s
    counted; chains are grouped by it for R-hat."""
    structural = torch.tensor(sorted(structural_ids(tokenizer)), device=start.tokens.device)
    content = start.attention_mask.bool() & ~torch.isin(start.tokens, structural)
    return content.sum(dim=1).tolist()


def cut_start(start: Start, chains: range) -> Start:
    """The rows `chains` of a start, without the columns that are padding in all of them."""
    rows = slice(chains.start, chains.stop)
    width = int(start.attention_mask[rows].sum(dim=1).max())
    return Start(*(part[rows, :width] for part in start.astuple()))


def structural_ids(tokenizer) -> set[int]:
    """Tokens that only frame a sequence (CLS, SEP, PAD, BOS, EOS): left out of written text.
    Unknown words ([UNK]) are content, and stay visible."""
    names = ("cls_token_id", "sep_token_id", "pad_token_id", "bos_token_id", "eos_token_id")
    ids = {getattr(tokenizer, name, None) for name in names}
    return {i for i in ids if i is not None}
