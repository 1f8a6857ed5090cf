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
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.base import Cost, EnergyOutput
from textebm.energies.masked_lm import (
    ScoredText,
    check_settings,
    context_token_ids,
    encode_checked,
    model_max_length,
    pack_by_budget,
)
from textebm.energies.records import mark_truncated, scored_records


class ElectricEnergy:
    """E(x) = sum of an Electric model's per-token energies over the scored tokens, / T.

    temperature: energies are divided by it.
    batch_tokens: token budget of one forward pass (sequences x padded length).
    max_padding: largest fraction of a pass's token slots that may be padding.
    """

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
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._context_ids = torch.tensor(context_token_ids(tokenizer), device=self.device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def scorable(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, length) bool: real tokens that are not structural ([UNK] is scored)."""
        return attention_mask.bool() & ~torch.isin(input_ids, self._context_ids)

    @torch.no_grad()
    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> EnergyOutput:
        """Energies of a batch, one sequence per row, in as few passes as the budget allows.

        input_ids: (batch, length) int64, right-padded, with the tokenizer's special tokens.
        attention_mask: (batch, length), 1 for real tokens; all ones if omitted.
        Returns energy (batch,), token_energies (batch, length) = E(x)_t / T at scored positions
        and 0 elsewhere, and scored (batch, length) bool.
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
            energies = self.model(
                input_ids=input_ids[rows, :length], attention_mask=attention_mask[rows, :length]
            ).energies
            self.cost.add(sequences=len(rows), tokens=len(rows) * length)
            token_energies[rows, :length] = energies.float()
        # where(), not a product: a padding slot's energy is never read, even if it is not finite
        token_energies = torch.where(scored, token_energies / self.temperature, 0.0)
        return EnergyOutput(
            energy=token_energies.sum(dim=1), token_energies=token_energies, scored=scored
        )

    def encode(self, texts: list[str], truncate: bool = False) -> list[list[int]]:
        """Each text's token ids with the tokenizer's special tokens ([CLS] ... [SEP]).

        Raises SequenceError for a text with no token to score, or longer than the model's
        maximum length (unless `truncate`, which cuts it to that length).
        """
        context = set(self._context_ids.tolist())
        encoding = encode_checked(self.tokenizer, texts, truncate, self.max_length, context)
        return [list(ids) for ids in encoding["input_ids"]]

    def score_texts(
        self, texts: list[str], truncate: bool = False, progress: bool = False
    ) -> list[ScoredText]:
        """Score many texts, in input order, whatever their number and lengths.

        Texts are sorted by length and handed over in groups of about 16 token budgets, so that
        texts of similar length share passes and memory stays bounded. A record's tokens are the
        scored ones (special tokens left out).
        """
        from tqdm.auto import tqdm

        encoded = self.encode(texts, truncate=truncate)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        results: list[ScoredText | None] = [None] * len(texts)
        bar = tqdm(total=len(texts), unit="text", disable=not progress)
        start = 0
        while start < len(order):
            end, work = start, 0
            while end < len(order) and (end == start or work <= 16 * self.batch_tokens):
                work += len(encoded[order[end]])
                end += 1
            group = order[start:end]
            records = self._score_group([encoded[i] for i in group])
            for index, record in zip(group, records, strict=True):
                results[index] = ScoredText(texts[index], *record)
            bar.update(len(group))
            start = end
        bar.close()
        if truncate:
            mark_truncated(self.tokenizer, texts, results, [len(item) for item in encoded])
        return results  # type: ignore[return-value]

    def _score_group(self, encoded: list[list[int]]) -> list[tuple]:
        """(energy, tokens, token energies, n_unk) of each sequence, over its scored tokens."""
        input_ids, attention_mask = right_pad(encoded, self.pad_id)
        output = self(input_ids, attention_mask)
        return scored_records(self.tokenizer, input_ids, output)
