"""Energy of an Electric model (`textebm.models.ElectricModel`): one pass per sequence.

For a sequence x with scored positions t (every real token, [UNK] included; structural special
tokens such as [CLS], [SEP] and padding are only context, as in the masked-LM energies):

    E(x) = sum_t E(x)_t / T,        E(x)_t = w^T h(x)_t + b      (the model's per-token energy)

so -E(x) is Electric's one-pass estimate of the pseudo-log-likelihood (Clark et al. 2020), which
the masked-LM `norm` energy computes with one masked copy per token. Sequences are sorted by
length and packed into passes under a token budget, as the other energies do. Any sampler that
takes a foreign target (`MetropolisHastings(ElectricEnergy(...), source=masked_lm_energy)`)
can use it: it is called on token tensors and returns an `EnergyOutput`.
"""

from __future__ import annotations

import torch

from textebm.energies.masked_lm import ScoredText, context_token_ids, encode_checked
from textebm.energies.one_pass import OnePassEnergy
from textebm.energies.records import mark_truncated


class ElectricEnergy(OnePassEnergy):
    """E(x) = sum of an Electric model's per-token energies over the scored tokens, / T.

    temperature: energies are divided by it.
    batch_tokens: token budget of one forward pass (sequences x padded length).
    max_padding: largest fraction of a pass's token slots that may be padding.
    Called on a batch, `token_energies` holds E(x)_t / T at the scored positions.
    """

    def _setup(self) -> None:
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0
        self._context_ids = torch.tensor(context_token_ids(self.tokenizer), device=self.device)

    def scorable(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, length) bool: real tokens that are not structural ([UNK] is scored)."""
        return attention_mask.bool() & ~torch.isin(input_ids, self._context_ids)

    def _score_rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(n, length) untempered per-token energies E(x)_t of n sequences with the tokenizer's
        special tokens, right-padded."""
        energies = self.model(input_ids=input_ids, attention_mask=attention_mask).energies
        self.cost.add(sequences=len(input_ids), tokens=input_ids.numel())
        return energies.float()

    def encode(self, texts: list[str], truncate: bool = False) -> list[list[int]]:
        """Each text's token ids with the tokenizer's special tokens ([CLS] ... [SEP]).

        Raises SequenceError for a text with no token to score, or longer than the model's
        maximum length (unless `truncate`, which cuts it to that length).
        """
        context = set(self._context_ids.tolist())
        encoding = encode_checked(self.tokenizer, texts, truncate, self.max_length, context)
        return [list(ids) for ids in encoding["input_ids"]]

    def _mark_truncated(
        self, texts: list[str], results: list[ScoredText], encoded: list[list[int]]
    ) -> None:
        mark_truncated(self.tokenizer, texts, results, [len(item) for item in encoded])
