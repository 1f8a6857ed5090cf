"""What the energies that score a whole sequence in one forward pass share (Electric, causal LM).

Each holds the same settings, packs a batch's sequences by length into passes under a token budget
(`pack_by_budget`, as the masked-LM energy packs its copies), divides the per-token terms by the
temperature and sums them over the scored positions, and scores texts in length-sorted groups. A
family says only which positions it scores (`scorable`), what one pass gives at each token
(`_score_rows`), how it frames a text (`encode`) and how it marks a text `truncate` cut short.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.base import Cost, EnergyOutput
from textebm.energies.masked_lm import ScoredText, check_settings, model_max_length, pack_by_budget
from textebm.energies.records import grouped_records, scored_records


class OnePassEnergy(ABC):
    """Base of the energies that score every token of a sequence in one forward pass.

    temperature: energies are divided by it.
    batch_tokens: token budget of one forward pass (sequences x padded length).
    max_padding: largest fraction of a pass's token slots that may be padding.
    A family reads what else it needs from the tokenizer in `_setup`, `pad_id` (the id
    `score_texts` pads its groups with) among it.
    """

    pad_id: int

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        temperature: float = 1.0,
        batch_tokens: int = 8192,
        max_padding: float = 0.05,
    ) -> None:
        check_settings(temperature, batch_tokens)
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.batch_tokens = temperature, batch_tokens
        self.max_padding = max_padding
        self.max_length = model_max_length(model, tokenizer)
        self.cost = Cost()
        self._setup()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @abstractmethod
    def _setup(self) -> None:
        """Read the family's special ids from `self.tokenizer` (raising ValueError for one it
        cannot work with) and set `pad_id`; called last by `__init__`."""

    @abstractmethod
    def scorable(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, length) bool: the positions whose terms make up the energy."""

    @abstractmethod
    def _score_rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(n, length) float32 untempered per-token terms of one pass over n sequences cut to
        their longest; its cost counted. Values off the scored positions are never read."""

    @abstractmethod
    def encode(self, texts: list[str], truncate: bool = False) -> list[list[int]]:
        """Each text's token ids, framed as the model reads one; SequenceError for one that
        cannot be scored (or is too long, unless `truncate`)."""

    @abstractmethod
    def _mark_truncated(
        self, texts: list[str], results: list[ScoredText], encoded: list[list[int]]
    ) -> None:
        """Set `scored_text` on each result whose text `truncate` cut short."""

    @torch.no_grad()
    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> EnergyOutput:
        """Energies of a batch, one sequence per row, in as few passes as the budget allows.

        input_ids: (batch, length) int64, right-padded, framed as `encode` frames a text.
        attention_mask: (batch, length), 1 for real tokens; all ones if omitted.
        Returns energy (batch,), token_energies (batch, length) = the family's term / T at scored
        positions (`scorable`) and 0 elsewhere, and scored (batch, length) bool.
        """
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.to(self.device)
        scored = self.scorable(input_ids, attention_mask)
        lengths = attention_mask.sum(dim=1)
        order = torch.argsort(lengths, stable=True)
        token_energies = torch.zeros(input_ids.shape, dtype=torch.float32, device=self.device)
        for run in pack_by_budget(lengths[order].tolist(), self.batch_tokens, self.max_padding):
            rows = order[run]
            length = int(lengths[rows].max())
            token_energies[rows, :length] = self._score_rows(
                input_ids[rows, :length], attention_mask[rows, :length]
            )
        # where(), not a product: a padding slot's term is never read, even if it is not finite
        token_energies = torch.where(scored, token_energies / self.temperature, 0.0)
        return EnergyOutput(
            energy=token_energies.sum(dim=1), token_energies=token_energies, scored=scored
        )

    def score_texts(
        self, texts: list[str], truncate: bool = False, progress: bool = False
    ) -> list[ScoredText]:
        """Score many texts, in input order, whatever their number and lengths.

        Texts are sorted by length and handed over in groups of about 16 token budgets, so that
        texts of similar length share passes and memory stays bounded. A record's tokens are the
        scored ones (`scorable`).
        """
        encoded = self.encode(texts, truncate=truncate)
        records = grouped_records(
            encoded,
            [len(ids) for ids in encoded],
            16 * self.batch_tokens,
            self._score_group,
            progress,
        )
        results = [ScoredText(text, *record) for text, record in zip(texts, records, strict=True)]
        if truncate:
            self._mark_truncated(texts, results, encoded)
        return results

    def _score_group(self, encoded: list[list[int]]) -> list[tuple]:
        """(energy, tokens, token energies, n_unk) of each sequence, over its scored tokens."""
        input_ids, attention_mask = right_pad(encoded, self.pad_id)
        output = self(input_ids, attention_mask)
        return scored_records(self.tokenizer, input_ids, output)
