"""Run a model's output layer only at chosen positions of its input.

A masked LM's output layer maps each hidden state to vocabulary-sized logits. Scoring a masked
copy, proposing a token or computing the masked-LM loss needs the logits at a few positions only,
so a forward pre-hook on the output layer hands it only those rows: the layer then maps
(n, hidden) instead of (batch, length, hidden), which saves the vocabulary-sized matrix product
at every other position (most of a small model's work with a 10k-word vocabulary). The model's
`logits` come back as (n, vocab), in the order of the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import torch

# What selects the rows: a (batch, length) bool mask, or a (rows, cols) pair of (n,) int64.
Index = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class KeepRows:
    """Forward pre-hook on the output layer: pass on only `hidden[index]`, (n, hidden).

    The kept hidden states stay in `self.hidden`: a sampler recomputes a conditional from them
    later without another pass. One hook object can be reused across calls (`on`), which keeps
    `torch.compile` from seeing a new hook, hence a new graph, at every call.
    """

    def __init__(self, index: Index | None = None) -> None:
        self.index = index
        self.hidden: torch.Tensor | None = None

    def __call__(self, module: torch.nn.Module, args: tuple) -> tuple:
        self.hidden = args[0][self.index]
        return (self.hidden, *args[1:])

    @contextmanager
    def on(self, head: torch.nn.Module, index: Index) -> Iterator[KeepRows]:
        """Keep `index` for the forward passes inside the block, then remove the hook."""
        self.index = index
        handle = head.register_forward_pre_hook(self)
        try:
            yield self
        finally:
            handle.remove()


def output_rows(head: torch.nn.Module, index: Index) -> AbstractContextManager[KeepRows]:
    """Context manager: within it, `head` (the output layer) sees only `hidden[index]`.

    Yields the `KeepRows` hook, whose `hidden` holds the kept rows after a forward pass.
    """
    return KeepRows().on(head, index)
