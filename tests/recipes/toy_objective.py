"""A small objective written to exercise every extension point of the training loop.

- `model` (trained): a token classifier told to find the tokens that a noise model replaced
  (ELECTRA's discriminator), fed a 4-D attention mask with position ids;
- `noise` (auxiliary, frozen): a tiny causal LM loaded from a folder; `prepare` replaces about 30%
  of the ordinary tokens by draws from it, on the device, with the loop's seeded generator;
- `classifier` (auxiliary, trained jointly): a sequence classifier on sentence pairs (line, next
  line), predicting whether the first is the longer one;
- two loss terms: "replaced", summed over ordinary tokens and normalised by their number, and
  "label", summed over sequences and normalised by their number.

Also a script for two-process tests: `torchrun ... toy_objective.py CONFIG.json [STOP_AFTER]`.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForCausalLM,
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)

from textebm.data.corpus import lines_of
from textebm.recipes.config import TrainConfig, option
from textebm.recipes.loop import train
from textebm.recipes.objective import Auxiliary, Batch, Models


@dataclass
class ToyConfig(TrainConfig):
    noise_model: str = option("", "folder of the frozen noise model", "objective")
    noise_fraction: float = option(0.3, "fraction of ordinary tokens replaced", "objective")


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    """(batch, longest) int64, right-padded with `value`."""
    out = torch.full((len(rows), max(map(len, rows))), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


class Toy:
    name = "toy"

    def __init__(self, config: ToyConfig) -> None:
        self.config = config
        self.prepared = 0  # how often `prepare` ran in this process

    def check_tokenizer(self, tokenizer) -> None:
        self.pad_id, self.cls_id, self.sep_id = (
            tokenizer.pad_token_id,
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
        )
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def _bert(self, config: ToyConfig, tokenizer) -> BertConfig:
        return BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=config.hidden_size,
            num_hidden_layers=config.layers,
            num_attention_heads=config.heads,
            intermediate_size=config.intermediate_size,
            max_position_embeddings=2 * config.context_length,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            pad_token_id=tokenizer.pad_token_id,
            num_labels=2,
        )

    def build_model(self, config: ToyConfig, tokenizer):
        return BertForTokenClassification(self._bert(config, tokenizer))

    def auxiliary_models(self, config: ToyConfig, tokenizer) -> dict[str, Auxiliary]:
        return {
            "noise": Auxiliary(AutoModelForCausalLM.from_pretrained(config.noise_model)),
            "classifier": Auxiliary(
                BertForSequenceClassification(self._bert(config, tokenizer)), trained=True
            ),
        }

    def examples(self, documents, tokenizer, config: ToyConfig, train: bool):
        body = config.context_length - 2
        lines = tokenizer(lines_of(documents), add_special_tokens=False)["input_ids"]
        lines = [ids[:body] for ids in lines if ids]
        return list(itertools.pairwise(lines))

    def batch(self, examples, indices: list[int], generator: torch.Generator) -> Batch:
        pairs = [examples[i] for i in indices]
        input_ids = _pad([[self.cls_id, *a, self.sep_id] for a, _ in pairs], self.pad_id)
        padding = input_ids != self.pad_id  # (batch, length)
        length = input_ids.shape[1]
        # A 4-D mask (batch, 1, length, length): each real token sees every real token.
        attention = padding[:, None, None, :].expand(-1, 1, length, -1)
        position_ids = torch.arange(length).expand(len(pairs), -1)
        pair_ids = _pad([[self.cls_id, *a, self.sep_id, *b, self.sep_id] for a, b in pairs], 0)
        token_type_ids = _pad([[0] * (len(a) + 2) + [1] * (len(b) + 1) for a, b in pairs], 0)
        ordinary = padding & ~torch.isin(input_ids, self.special_ids)
        inputs = {
            "tokens": {
                "input_ids": input_ids,
                "attention_mask": attention,
                "position_ids": position_ids,
            },
            "ordinary": ordinary,
            "pair": {
                "input_ids": pair_ids,
                "token_type_ids": token_type_ids,
                "attention_mask": (pair_ids != 0).long(),
            },
            "label": torch.tensor([int(len(a) > len(b)) for a, b in pairs]),
        }
        counts = {"replaced": int(ordinary.sum()), "label": len(pairs)}
        return Batch(inputs, counts, int(padding.sum()))

    def prepare(self, models: Models, batch: Batch, generator: torch.Generator) -> Batch:
        # The loop's promises: no gradients, every model in eval mode, a generator on the device.
        assert not torch.is_grad_enabled() and not models.main.training
        assert not models["classifier"].training and not models["noise"].training
        ids = batch.inputs["tokens"]["input_ids"]
        assert generator.device == ids.device
        logits = models["noise"](input_ids=ids).logits.float()  # (batch, length, vocab)
        logits[..., self.special_ids.to(ids.device)] = -torch.inf
        # Position t is redrawn from p(. | x_<t): the noise model's prediction at t - 1.
        probs = torch.softmax(logits[:, :-1], dim=-1).flatten(0, 1)
        draws = torch.multinomial(probs, 1, generator=generator).view(len(ids), -1)
        chosen = batch.inputs["ordinary"].clone()
        chosen &= torch.rand(ids.shape, generator=generator, device=ids.device) < (
            self.config.noise_fraction
        )
        chosen[:, 0] = False
        noisy = ids.clone()
        noisy[:, 1:] = torch.where(chosen[:, 1:], draws, ids[:, 1:])
        batch.inputs["tokens"] = {**batch.inputs["tokens"], "input_ids": noisy}
        batch.inputs["replaced"] = (noisy != ids).long()
        self.prepared += 1
        return batch

    def loss(self, models: Models, inputs) -> dict[str, torch.Tensor]:
        tokens = inputs["tokens"]
        assert tokens["attention_mask"].dim() == 4
        logits = models.main(**tokens).logits  # (batch, length, 2)
        ordinary = inputs["ordinary"]
        replaced = F.cross_entropy(
            logits[ordinary].float(), inputs["replaced"][ordinary], reduction="sum"
        )
        label_logits = models["classifier"](**inputs["pair"]).logits  # (batch, 2)
        label = F.cross_entropy(label_logits.float(), inputs["label"], reduction="sum")
        return {"replaced": replaced, "label": label}

    def evaluate(self, models: Models, examples, config: ToyConfig) -> dict[str, float]:
        assert not models["classifier"].training
        device = next(models.main.parameters()).device
        batch = self.batch(examples, list(range(min(16, len(examples)))), None)
        pair = {k: v.to(device) for k, v in batch.inputs["pair"].items()}
        logits = models["classifier"](**pair).logits
        right = logits.argmax(-1).cpu() == batch.inputs["label"]
        return {"label_accuracy": float(right.float().mean())}


def train_toy(config: ToyConfig, stop_after: int | None = None):
    return train(config, Toy(config), stop_after=stop_after)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        values = json.load(handle)
    train_toy(ToyConfig(**values), stop_after=int(sys.argv[2]) if len(sys.argv) > 2 else None)
