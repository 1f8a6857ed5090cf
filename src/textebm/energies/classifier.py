"""Energies of a text classifier, with f(x) its logits and h its [CLS] vector:

    scalar        E(x) = g(h), g a separate head (`textebm.models.energy_head.EnergyHead`);
    hidden        E(x) = -logsumexp_y f(x)_y   (the JEM energy, Grathwohl et al. 2020);
    sharp-hidden  E(x) = -max_y f(x)_y.

All divided by the temperature. A text is encoded as the classifier reads it (`[CLS] x [SEP]`, or
`[CLS] a [SEP] b [SEP]` for a pair), and one forward pass scores it whole: there are no per-token
terms, so `token_energies` is None (an empty list in scored records).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.base import Condition, Cost, EnergyOutput
from textebm.energies.masked_lm import (
    ScoredText,
    SequenceError,
    check_settings,
    model_max_length,
    pack_by_budget,
)

KINDS = ("scalar", "hidden", "sharp-hidden")


def energy_from_outputs(
    kind: str, logits: torch.Tensor, cls_hidden: torch.Tensor | None, head=None
) -> torch.Tensor:
    """E(x) from a classifier's outputs, keeping the graph.

    logits: (batch, classes); cls_hidden: (batch, hidden_size), the last layer at position 0
    (needed for "scalar" only); head: the scalar head (for "scalar"). Returns (batch,) float32.
    """
    if kind == "hidden":
        return -torch.logsumexp(logits.float(), dim=-1)
    if kind == "sharp-hidden":
        return -logits.float().max(dim=-1).values
    if kind == "scalar":
        if head is None or cls_hidden is None:
            raise ValueError("the scalar energy needs its head and the [CLS] vectors")
        return head(cls_hidden).float()
    raise ValueError(f"unknown classifier energy {kind!r}; choose one of {', '.join(KINDS)}")


def classify(
    model: PreTrainedModel, inputs: dict[str, torch.Tensor], need_hidden: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One forward pass: logits (batch, classes) and, if asked, h (batch, hidden_size)."""
    outputs = model(**inputs, output_hidden_states=need_hidden)
    hidden = outputs.hidden_states[-1][:, 0] if need_hidden else None
    return outputs.logits, hidden


class ClassifierEnergy:
    """Energy of an `AutoModelForSequenceClassification` (see the module notes).

    kind: "scalar", "hidden" or "sharp-hidden"; head: the `EnergyHead`, required for "scalar".
    temperature: energies are divided by it. batch_tokens: token budget of one forward pass.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        kind: str = "hidden",
        head: torch.nn.Module | None = None,
        temperature: float = 1.0,
        batch_tokens: int = 8192,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown classifier energy {kind!r}; choose one of {KINDS}")
        if kind == "scalar" and head is None:
            raise ValueError("the scalar energy needs the classifier's energy head")
        check_settings(temperature, batch_tokens)
        self.model, self.tokenizer, self.kind, self.head = model, tokenizer, kind, head
        self.temperature, self.batch_tokens = temperature, batch_tokens
        self.max_length = model_max_length(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.cost = Cost()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def with_grad(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        condition: Condition | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> EnergyOutput:
        """E(x) / T of a batch in one pass, keeping the graph.

        input_ids, attention_mask, token_type_ids: (batch, length), right-padded; the mask is all
        ones and the token types all zeros when omitted. Returns energy (batch,) and, in
        `extras["logits"]`, the logits (batch, classes).
        """
        if condition is not None:
            raise ValueError("a classifier energy is unconditional; pass condition=None")
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask.to(self.device)}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids.to(self.device)
        logits, hidden = classify(self.model, inputs, need_hidden=self.kind == "scalar")
        self.cost.add(sequences=len(input_ids), tokens=input_ids.numel())
        energy = energy_from_outputs(self.kind, logits, hidden, self.head) / self.temperature
        return EnergyOutput(energy=energy, extras={"logits": logits})

    @torch.no_grad()
    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        condition: Condition | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> EnergyOutput:
        """`with_grad` without a graph (see `Energy`)."""
        return self.with_grad(
            input_ids, attention_mask, condition=condition, token_type_ids=token_type_ids
        )

    def encode(self, texts: list[str], truncate: bool = False) -> list[list[int]]:
        """Each text as the classifier reads it, special tokens included.

        Raises SequenceError for a text with no token, or longer than the model's maximum
        length unless `truncate`, which keeps the first tokens and the closing special token.
        """
        encoded = self.tokenizer(texts)["input_ids"]
        plain = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        for index, ids in enumerate(encoded):
            if not plain[index]:
                raise SequenceError(index, "no tokens to score")
            if len(ids) > self.max_length:
                if not truncate:
                    raise SequenceError(
                        index,
                        f"{len(ids)} tokens, more than the model's maximum of {self.max_length}",
                    )
                encoded[index] = [*ids[: self.max_length - 1], ids[-1]]
        return encoded

    def score_texts(
        self, texts: list[str], truncate: bool = False, progress: bool = False
    ) -> list[ScoredText]:
        """Score many texts, in input order, sorted by length into passes under the budget.

        A record's tokens are the text's (special tokens left out); token_energies is empty, as
        these energies do not decompose over tokens.
        """
        from tqdm.auto import tqdm

        encoded = self.encode(texts, truncate=truncate)
        special = set(self.tokenizer.all_special_ids) - {self.tokenizer.unk_token_id}
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        lengths = [len(encoded[i]) for i in order]
        results: list[ScoredText | None] = [None] * len(texts)
        bar = tqdm(total=len(texts), unit="text", disable=not progress)
        for run in pack_by_budget(lengths, self.batch_tokens):
            group = order[run]
            output = self(*right_pad([encoded[i] for i in group], self.pad_id))
            for row, index in enumerate(group):
                ids = [i for i in encoded[index] if i not in special]
                results[index] = ScoredText(
                    texts[index],
                    float(output.energy[row]),
                    self.tokenizer.convert_ids_to_tokens(ids),
                    [],
                    n_unk=sum(i == self.tokenizer.unk_token_id for i in ids),
                )
            bar.update(len(group))
        bar.close()
        if truncate:
            for index, ids in enumerate(self.tokenizer(texts)["input_ids"]):
                if len(ids) > len(encoded[index]):
                    kept = encoded[index][1:-1]
                    results[index].scored_text = self.tokenizer.decode(kept)  # type: ignore[union-attr]
        return results  # type: ignore[return-value]
