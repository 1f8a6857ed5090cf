"""What every energy returns, and how it counts its cost.

An energy maps token sequences to scalars, lower = more probable: p(x) is proportional to
exp(-E(x) / temperature). Each family (masked LM, Electric, classifier, causal LM) returns the same
`EnergyOutput`, so samplers, objectives and the command line never care which one they hold.

An energy may be conditional, E(x | c): the condition c (a class label, a source sentence) travels
beside the tokens as a `Condition`, one entry per sequence, and samplers never change it.
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


@dataclass(frozen=True)
class Condition:
    """What a conditional energy E(x | c) is given beside the tokens, one entry per sequence.

    labels: (batch,) int64 class labels (a class-conditional energy), or None.
    input_ids: (batch, source_length) int64 source-sentence tokens, right-padded (translation),
        or None; attention_mask: (batch, source_length), 1 for real source tokens (all ones when
        omitted).
    At least one part is given, and every part has the same batch size. Rows line up with the
    token batch they condition: row b of the condition belongs to sequence b.
    """

    labels: torch.Tensor | None = None
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.labels is None and self.input_ids is None:
            raise ValueError("a Condition needs labels or input_ids")
        if self.attention_mask is not None and self.input_ids is None:
            raise ValueError("a Condition's attention_mask needs its input_ids")
        if self.input_ids is not None and self.input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be (batch, length), not {tuple(self.input_ids.shape)}"
            )
        if self.labels is not None and self.labels.dim() != 1:
            raise ValueError(f"labels must be (batch,), not {tuple(self.labels.shape)}")
        if self.attention_mask is not None and self.attention_mask.shape != self.input_ids.shape:
            raise ValueError("a Condition's attention_mask must have its input_ids' shape")
        sizes = {len(part) for part in self._parts().values()}
        if len(sizes) > 1:
            raise ValueError(f"a Condition's parts disagree on the batch size: {sorted(sizes)}")

    def _parts(self) -> dict[str, torch.Tensor]:
        names = ("labels", "input_ids", "attention_mask")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def __len__(self) -> int:
        return len(next(iter(self._parts().values())))

    def select(self, rows: torch.Tensor) -> Condition:
        """The condition of the sequences `rows` (an index or bool tensor over the batch)."""
        return Condition(
            **{name: part[rows.to(part.device)] for name, part in self._parts().items()}
        )

    def to(self, device: torch.device | str) -> Condition:
        return Condition(**{name: part.to(device) for name, part in self._parts().items()})


def select_condition(condition: Condition | None, rows: torch.Tensor) -> Condition | None:
    """`condition.select(rows)`, passing None through (an unconditional energy)."""
    return None if condition is None else condition.select(rows)


class Energy(Protocol):
    """The interface every energy family implements, and the type samplers and commands hold.

    Call it on token ids (batch, length) with an attention mask (batch, length) (1 = real token,
    right padding) and an optional `condition` (a `Condition` with one row per sequence, or None)
    and get an `EnergyOutput` of E(x | condition) / temperature. `cost` accumulates the work done
    across calls.

    Conditions: an unconditional energy (e.g. `MaskedLMEnergy`) raises ValueError for a condition
    that is not None rather than ignore it, so a condition never silently goes unused.

    Gradients: calling the energy is scoring. It runs under `torch.no_grad()` and returns tensors
    without a graph, whatever the caller's grad mode, so samplers and `score` never build one and
    may call it inside their own `no_grad` blocks. An objective that trains through an energy
    never calls it: the family gives it a differentiable path, a method named `with_grad` with
    the same arguments and the same `EnergyOutput` values (up to dropout, in train mode) whose
    `energy` and `token_energies` keep the graph back to the model's parameters. Families add
    `with_grad` when an objective first trains through them; none has one yet, so
    `MaskedLMEnergy` is scoring only (its training loss lives with the objectives).
    """

    temperature: float
    cost: Cost

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        condition: Condition | None = None,
    ) -> EnergyOutput: ...
