"""What every energy returns, and how it counts its cost.

An energy maps token sequences to scalars, lower = more probable: p(x) is proportional to
exp(-E(x) / temperature). Each family (masked LM, Electric, classifier, causal LM) returns the same
`EnergyOutput`, so samplers, objectives and the command line never care which one they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch


@dataclass
class Cost:
    """Work done by an energy, accumulated over its calls.

    sequences: sequences through the model (one masked copy = one sequence).
    calls: forward calls of the model (one call may carry many sequences).
    tokens: token slots through the model, padding included (sequences x padded length).
    """

    sequences: int = 0
    calls: int = 0
    tokens: int = 0

    def add(self, sequences: int, tokens: int) -> None:
        self.sequences += sequences
        self.calls += 1
        self.tokens += tokens

    def snapshot(self) -> Cost:
        return Cost(self.sequences, self.calls, self.tokens)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(
            self.sequences - other.sequences, self.calls - other.calls, self.tokens - other.tokens
        )


@dataclass
class Conditionals:
    """What the masked passes computed at each scored position, so samplers never repeat a pass.

    For position t of sequence b, `hidden[b, t]` is the input of the output layer in the copy of b
    where t was masked (with whole-word masking, the copy where t and the rest of its word were
    masked). `head` maps it to logits over the vocabulary; the hidden state is stored instead of the
    logits because it is vocabulary / hidden_size times smaller (40x for BERT-base).

    hidden: (batch, length, hidden_size) float; zeros where nothing was computed.
    computed: (batch, length) bool, True where `hidden` holds a masked pass's result.
    head: (..., hidden_size) -> (..., vocab) logits.
    """

    hidden: torch.Tensor
    computed: torch.Tensor
    head: Callable[[torch.Tensor], torch.Tensor]

    @torch.no_grad()
    def logits(self, batch_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Logits of the masked conditional at (batch_index[i], position[i]): (n, vocab)."""
        return self.head(self.hidden[batch_index, position])

    def log_probs(self, batch_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """log p(x_t = v | x without t) at the given positions: (n, vocab), normalised."""
        return torch.log_softmax(self.logits(batch_index, position).float(), dim=-1)


@dataclass
class EnergyOutput:
    """Energies of a batch of sequences, lower = more probable, already divided by the temperature.

    energy: (batch,) total energy, the sum of `token_energies` over scored positions.
    token_energies: (batch, length) per-token terms; 0 where a position is not scored (special
        tokens, padding). Energies that have no per-token decomposition leave it None.
    scored: (batch, length) bool, the positions that contribute to `energy`.
    conditionals: what the passes computed at each position, when asked for (masked LMs).
    """

    energy: torch.Tensor
    token_energies: torch.Tensor | None = None
    scored: torch.Tensor | None = None
    conditionals: Conditionals | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class Energy(Protocol):
    """The interface every energy family implements.

    Call it on token ids (batch, length) with an attention mask (batch, length) (1 = real token,
    right padding) and get an `EnergyOutput`. `cost` accumulates the work done across calls.
    """

    temperature: float
    cost: Cost

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> EnergyOutput: ...
