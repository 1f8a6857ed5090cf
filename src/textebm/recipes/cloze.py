"""Two-tower cloze recipe: `textebm train cloze`, or `train_cloze(ClozeTrainConfig(...))`.

Examples are lines, each encoded `[CLS] line [SEP]` exactly as Electric and the energies encode a
sentence (longer lines cut into pieces, each wrapped the same way), padded on the right to the
longest of the batch. Every ordinary token (not [CLS], [SEP] or padding; [UNK] is a word) is a
target of the maximum-likelihood loss `textebm.objectives.cloze.cloze_loss`: no masking, since
the model (`textebm.models.cloze`) never sees x_t when it predicts it. The helpers here (examples,
padding, ordinary positions) are shared with the Electric recipe, which reads the same examples.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import AutoConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, lines_of
from textebm.data.padding import right_pad
from textebm.errors import UsageError
from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.objectives.cloze import cloze_loss
from textebm.recipes.electric_config import ClozeTrainConfig
from textebm.recipes.init import check_fits, load_init
from textebm.recipes.loop import Batch, Models, train
from textebm.recipes.objective import to_device


class Lines:
    """What the cloze and Electric recipes share: wrapped lines and their ordinary tokens."""

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        missing = [n for n in ("pad", "cls", "sep") if getattr(tokenizer, f"{n}_token_id") is None]
        if missing:
            raise UsageError(
                f"the tokenizer has no {', '.join(missing)} token, which the {self.name} recipe "
                "needs; train one with `textebm train tokenizer`"
            )
        from textebm.energies.masked_lm import context_token_ids

        self.vocabulary = len(tokenizer)
        self.pad_id, self.cls_id = tokenizer.pad_token_id, tokenizer.cls_token_id
        self.sep_id = tokenizer.sep_token_id
        # Structural special tokens: never targets, never noise. [UNK] stands for a word.
        self.context_ids = torch.tensor(context_token_ids(tokenizer))

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: ClozeTrainConfig,
        train: bool,
    ) -> list[list[int]]:
        body = config.context_length - 2
        examples = []
        for ids in tokenizer(lines_of(documents), add_special_tokens=False)["input_ids"]:
            for start in range(0, len(ids), body):
                examples.append([self.cls_id, *ids[start : start + body], self.sep_id])
        return examples

    def collate(self, examples: list[list[int]], indices: list[int]) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask: (batch, length) int64; ordinary: (batch, length) bool."""
        input_ids, attention_mask = right_pad([examples[i] for i in indices], self.pad_id)
        ordinary = attention_mask.bool() & ~torch.isin(input_ids, self.context_ids)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "ordinary": ordinary}


def cloze_model_config(
    vocabulary: int,
    context_length: int,
    hidden: int,
    layers: int,
    heads: int,
    intermediate: int,
    dropout: float,
) -> ClozeConfig:
    """A two-tower model's configuration (each tower this size)."""
    return ClozeConfig(
        vocab_size=vocabulary,
        n_positions=context_length,
        n_embd=hidden,
        n_layer=layers,
        n_head=heads,
        n_inner=intermediate,
        dropout=dropout,
    )


def read_cloze(folder: str, flag: str) -> ClozeModel:
    """The saved two-tower cloze model in `folder`; UsageError if it holds another model type.

    flag: the option that named the folder, for the message ("--init-from", "--noise").
    """
    settings = AutoConfig.from_pretrained(folder)
    if settings.model_type != ClozeConfig.model_type:
        raise UsageError(
            f"{flag} {folder} holds a {settings.model_type} model, not a two-tower cloze model; "
            "train one with `textebm train cloze`"
        )
    return ClozeModel.from_pretrained(folder)


def load_cloze(folder: str, vocabulary: int, context_length: int, flag: str) -> ClozeModel:
    """A saved cloze model that covers `vocabulary` ids and `context_length` positions."""
    model = read_cloze(folder, flag)
    check_fits(model.config, vocabulary, context_length, f"{flag} {folder}")
    return model


class Cloze(Lines):
    """The `Objective` of two-tower cloze training (see the module notes)."""

    name = "cloze"

    def build_model(
        self, config: ClozeTrainConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        if config.init_from is not None:
            return load_init(config, tokenizer, lambda folder: read_cloze(folder, "--init-from"))
        settings = cloze_model_config(
            len(tokenizer),
            config.context_length,
            config.hidden_size,
            config.layers,
            config.heads,
            config.intermediate_size,
            config.dropout,
        )
        return ClozeModel(settings)

    def batch(
        self, examples: list[list[int]], indices: list[int], generator: torch.Generator | None
    ) -> Batch:
        inputs = self.collate(examples, indices)
        ordinary = inputs["ordinary"]
        return Batch(inputs, {"loss": int(ordinary.sum())}, int(inputs["attention_mask"].sum()))

    def loss(self, models: Models, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = cloze_loss(
            models.main, inputs["input_ids"], inputs["attention_mask"], inputs["ordinary"]
        )
        return {"loss": loss}

    def evaluate(
        self, models: Models, examples: list[list[int]], config: ClozeTrainConfig
    ) -> dict[str, float]:
        if config.eval_examples:
            examples = examples[: config.eval_examples]
        device = next(models.main.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(examples), config.batch_size):
            indices = list(range(start, min(start + config.batch_size, len(examples))))
            batch = self.batch(examples, indices, None)
            total += float(self.loss(models, to_device(batch.inputs, device))["loss"])
            count += batch.counts["loss"]
        loss = total / max(count, 1)
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": count}


def train_cloze(config: ClozeTrainConfig, stop_after: int | None = None) -> Path:
    """Train a two-tower cloze model; the final model (`AutoModel`, "textebm-cloze") lands in
    `config.output`."""
    return train(config, Cloze(), stop_after=stop_after)
