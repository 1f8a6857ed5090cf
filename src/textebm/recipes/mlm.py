"""Masked-LM recipe (BERT): `textebm train mlm`, or `train_mlm(MlmConfig(...))`.

Examples are lines, each encoded `[CLS] line [SEP]` exactly as the energies encode a sentence;
a line longer than the context is cut into pieces, each wrapped the same way. Batches are padded
to their longest example. Of the real tokens ([UNK] too, as in BERT; structural special tokens
never), each is chosen with probability 0.15; a chosen token becomes [MASK] with probability 0.8,
a random ordinary token with probability 0.1, and stays itself otherwise; the loss is the
cross-entropy at the chosen tokens (`textebm.objectives.masked_lm` holds the corruption and the
loss, with their maths).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, lines_of
from textebm.data.padding import right_pad
from textebm.errors import UsageError
from textebm.objectives.masked_lm import IGNORE, mask_tokens, masked_lm_loss
from textebm.recipes.config import MlmConfig
from textebm.recipes.init import bert_settings, load_init
from textebm.recipes.loop import Batch, Models, derive_seed, train
from textebm.recipes.objective import to_device


def pseudo_perplexity(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, sequences: list[list[int]]
) -> float:
    """exp(summed `norm` energy / number of scored tokens): every real token masked in turn."""
    from textebm.energies import MaskedLMEnergy

    energy = MaskedLMEnergy(model, tokenizer, kind="norm")
    total, count = 0.0, 0
    for start in range(0, len(sequences), 64):
        chunk = sequences[start : start + 64]
        input_ids, attention_mask = right_pad(chunk, tokenizer.pad_token_id)
        result = energy(input_ids, attention_mask)
        total += float(result.energy.sum())
        count += int(result.scored.sum())
    return math.exp(total / max(count, 1))


class MaskedLM:
    """The `Objective` of BERT-style masked-LM training (see the module notes)."""

    name = "mlm"

    def __init__(self, config: MlmConfig) -> None:
        self.config = config

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        missing = [
            name
            for name in ("mask", "pad", "cls", "sep")
            if getattr(tokenizer, f"{name}_token_id") is None
        ]
        if missing:
            raise UsageError(
                f"the tokenizer has no {', '.join(missing)} token, which a masked LM "
                "needs; train one with `textebm train tokenizer`"
            )
        self._tokenizer = tokenizer
        self.mask_id, self.pad_id = tokenizer.mask_token_id, tokenizer.pad_token_id
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        from textebm.energies.masked_lm import context_token_ids

        # [UNK] stands for a word: masked like any token, so the model learns to predict it.
        self.context_ids = torch.tensor(context_token_ids(tokenizer))
        special = set(tokenizer.all_special_ids)
        self.ordinary_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special])

    def build_model(self, config: MlmConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
        if config.init_from is not None:
            return load_init(config, tokenizer, AutoModelForMaskedLM.from_pretrained)
        return BertForMaskedLM(BertConfig(**bert_settings(config, tokenizer)))

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: MlmConfig,
        train: bool,
    ) -> list[list[int]]:
        body = config.context_length - 2
        examples = []
        encoded = tokenizer(lines_of(documents), add_special_tokens=False)["input_ids"]
        for ids in encoded:
            for start in range(0, len(ids), body):
                examples.append([self.cls_id, *ids[start : start + body], self.sep_id])
        return examples

    def batch(
        self, examples: list[list[int]], indices: list[int], generator: torch.Generator
    ) -> Batch:
        input_ids, attention_mask = right_pad([examples[i] for i in indices], self.pad_id)
        maskable = attention_mask.bool() & ~torch.isin(input_ids, self.context_ids)
        input_ids, labels = mask_tokens(
            input_ids,
            maskable,
            generator,
            probability=self.config.mlm_probability,
            mask_id=self.mask_id,
            replacement_ids=self.ordinary_ids,
        )
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        return Batch(inputs, {"loss": int((labels != IGNORE).sum())}, int(attention_mask.sum()))

    def loss(self, models: Models, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = masked_lm_loss(
            models.main, inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        )
        return {"loss": loss}

    def evaluate(
        self, models: Models, examples: list[list[int]], config: MlmConfig
    ) -> dict[str, float]:
        model = models.main
        if config.eval_examples:
            examples = examples[: config.eval_examples]
        # The same masks at every evaluation, so that the losses compare across steps.
        generator = torch.Generator().manual_seed(derive_seed(config.seed, "validation"))
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(examples), config.batch_size):
            indices = list(range(start, min(start + config.batch_size, len(examples))))
            batch = self.batch(examples, indices, generator)
            total += float(self.loss(models, to_device(batch.inputs, device))["loss"])
            count += batch.counts["loss"]
        loss = total / max(count, 1)
        results = {"loss": loss, "perplexity": math.exp(loss)}
        if config.pll_examples:
            results["pseudo_perplexity"] = pseudo_perplexity(
                model, self._tokenizer, examples[: config.pll_examples]
            )
        return results


def train_mlm(config: MlmConfig, stop_after: int | None = None) -> Path:
    """Train a masked LM; the final model (`AutoModelForMaskedLM`) lands in `config.output`."""
    return train(config, MaskedLM(config), stop_after=stop_after)
