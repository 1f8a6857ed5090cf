"""Electric recipe: `textebm train electric --noise DIR|joint`, or `train_electric(config)`.

Examples are the cloze recipe's: `[CLS] line [SEP]`, right-padded. Per micro-batch:
- `batch` (CPU, seeded): each line's k = max(1, round(0.15 n)) positions among its n ordinary
  tokens, uniformly (`objectives.electric.choose_positions`);
- `prepare` (device, seeded, no gradients): the noise model reads the ORIGINAL lines, giving
  log q(. | x_{-t}) at every position (mixed with `--noise-uniform` of a uniform distribution);
  the chosen tokens are replaced by draws from it, and log q of the token each position now
  holds is kept (`objectives.electric.corrupt`);
- `loss`: Electric reads the corrupted lines once; term "loss" (or "nce" beside "cloze") is
  Algorithm 2's NCE summed over the ordinary tokens of lines with n >= 2 and normalised by their
  number (`objectives.electric.electric_loss`).

The noise model is a two-tower cloze model (`models.cloze`): loaded frozen from `--noise DIR`, or
with `--noise joint` built fresh (about a quarter of Electric's transformer weights) and trained
beside Electric by maximum likelihood on the original lines (term "cloze", normalised by the
ordinary tokens), saved in `--output/noise`. NCE treats q as given, so no gradient flows from the
NCE term into the noise model: its log q comes from `prepare`.

`--init-from` takes an Electric folder (to continue training) or a BERT-style encoder (a BERT, or
a BERT masked LM such as the MiniLM encoder) whose weights start Electric's encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.eval.context_shift import context_shift
from textebm.objectives.cloze import cloze_loss
from textebm.objectives.electric import (
    choose_positions,
    corrupt,
    counted,
    electric_loss,
    noise_log_probs,
    noise_logits,
)
from textebm.recipes.cloze import Lines, cloze_model_config, load_cloze
from textebm.recipes.electric_config import ElectricTrainConfig
from textebm.recipes.init import bert_settings, load_init
from textebm.recipes.loop import Batch, Models, derive_seed, train
from textebm.recipes.objective import Auxiliary, to_device


def build_electric(config: ElectricTrainConfig, tokenizer: PreTrainedTokenizerBase):
    """A fresh Electric model of the configured size, or one started from `config.init_from`."""
    from textebm.models.electric import ElectricConfig, ElectricModel

    if config.init_from is None:
        return ElectricModel(ElectricConfig(**bert_settings(config, tokenizer)))

    def load(folder: str) -> PreTrainedModel:
        # An Electric folder continues training; any other encoder starts Electric's encoder.
        if AutoConfig.from_pretrained(folder).model_type == ElectricConfig.model_type:
            return ElectricModel.from_pretrained(folder)
        return ElectricModel.from_encoder(folder)

    return load_init(config, tokenizer, load)


class Electric(Lines):
    """The `Objective` of Electric's NCE training (see the module notes)."""

    name = "electric"

    def __init__(self, config: ElectricTrainConfig) -> None:
        self.config = config
        self.joint = config.noise == "joint"
        # One term is "loss" (the loop's convention); beside the cloze term it is "nce".
        self.term = "nce" if self.joint else "loss"

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        super().check_tokenizer(tokenizer)
        if not self.joint:  # a bad noise folder stops the run before its output is touched
            load_cloze(self.config.noise, len(tokenizer), self.config.context_length, "--noise")

    def build_model(
        self, config: ElectricTrainConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        return build_electric(config, tokenizer)

    def auxiliary_models(
        self, config: ElectricTrainConfig, tokenizer: PreTrainedTokenizerBase
    ) -> dict[str, Auxiliary]:
        from textebm.models.cloze import ClozeModel

        if not self.joint:
            noise = load_cloze(config.noise, len(tokenizer), config.context_length, "--noise")
            return {"noise": Auxiliary(noise)}
        settings = cloze_model_config(
            len(tokenizer),
            config.context_length,
            config.noise_hidden_size,
            config.noise_layers,
            config.noise_heads,
            4 * config.noise_hidden_size,
            config.dropout,
        )
        return {"noise": Auxiliary(ClozeModel(settings), trained=True)}

    def batch(
        self, examples: list[list[int]], indices: list[int], generator: torch.Generator
    ) -> Batch:
        inputs = self.collate(examples, indices)
        ordinary = inputs["ordinary"]
        inputs["chosen"] = choose_positions(ordinary, generator, self.config.mask_probability)
        counts = {self.term: int(counted(ordinary).sum())}
        if self.joint:
            counts["cloze"] = int(ordinary.sum())
        return Batch(inputs, counts, int(inputs["attention_mask"].sum()))

    def prepare(self, models: Models, batch: Batch, generator: torch.Generator) -> Batch:
        inputs = batch.inputs
        logits = models["noise"](inputs["input_ids"], inputs["attention_mask"]).logits
        excluded = self.context_ids.to(logits.device)
        log_q = noise_log_probs(logits, excluded, self.config.noise_uniform)
        inputs["corrupted"], inputs["log_q"] = corrupt(
            inputs["input_ids"], log_q, inputs["chosen"], generator
        )
        return batch

    def _nce(self, models: Models, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed NCE loss, noise logits (batch, length)) of prepared inputs."""
        energies = models.main(
            input_ids=inputs["corrupted"], attention_mask=inputs["attention_mask"]
        ).energies
        arguments = (energies, inputs["log_q"], inputs["chosen"], inputs["ordinary"])
        prior, p = self.config.prior, self.config.mask_probability
        loss = electric_loss(*arguments, prior=prior, probability=p)
        return loss, noise_logits(energies, inputs["log_q"], inputs["ordinary"], prior, p)

    def loss(self, models: Models, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        terms = {self.term: self._nce(models, inputs)[0]}
        if self.joint:
            terms["cloze"] = cloze_loss(
                models["noise"], inputs["input_ids"], inputs["attention_mask"], inputs["ordinary"]
            )
        return terms

    def evaluate(
        self, models: Models, examples: list[list[int]], config: ElectricTrainConfig
    ) -> dict[str, float]:
        """NCE loss per counted token; accuracy of telling noise from data (noise logit > 0);
        `context_shift`, how far a token's energy moves when its line is shuffled (0: Electric
        ignores context), beside `energy_spread`, the within-line spread of token energies
        (`eval.context_shift`); with a joint noise model, its cloze loss. The same choices, draws
        and shuffles every time."""
        if config.eval_examples:
            examples = examples[: config.eval_examples]
        device = next(models.main.parameters()).device
        choices = torch.Generator().manual_seed(derive_seed(config.seed, "validation"))
        draws = torch.Generator(device=device)
        draws.manual_seed(derive_seed(config.seed, "validation", 1))
        shuffles = torch.Generator().manual_seed(derive_seed(config.seed, "validation", 2))

        def energy_of(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return models.main(input_ids=input_ids, attention_mask=attention_mask).energies

        totals = {"nce": 0.0, "right": 0.0, "counted": 0, "cloze": 0.0, "ordinary": 0}
        totals.update(shift=0.0, spread=0.0, shuffled=0)  # eval.context_shift's three sums
        for start in range(0, len(examples), config.batch_size):
            indices = list(range(start, min(start + config.batch_size, len(examples))))
            batch = self.batch(examples, indices, choices)
            batch.inputs = to_device(batch.inputs, device)
            inputs = self.prepare(models, batch, draws).inputs
            loss, logits = self._nce(models, inputs)
            mask = counted(inputs["ordinary"])
            totals["nce"] += float(loss)
            totals["right"] += float(((logits > 0) == inputs["chosen"])[mask].sum())
            totals["counted"] += int(mask.sum())
            original = (inputs["input_ids"], inputs["attention_mask"], inputs["ordinary"])
            shift, spread, shuffled = context_shift(energy_of, *original, shuffles)
            totals["shift"] += shift
            totals["spread"] += spread
            totals["shuffled"] += shuffled
            if self.joint:
                totals["cloze"] += float(
                    cloze_loss(
                        models["noise"],
                        inputs["input_ids"],
                        inputs["attention_mask"],
                        inputs["ordinary"],
                    )
                )
                totals["ordinary"] += int(inputs["ordinary"].sum())
        nce = totals["nce"] / max(totals["counted"], 1)
        results = {"loss": nce, "accuracy": totals["right"] / max(totals["counted"], 1)}
        results["context_shift"] = totals["shift"] / max(totals["shuffled"], 1)
        results["energy_spread"] = (totals["spread"] / max(totals["shuffled"], 1)) ** 0.5
        if self.joint:
            results["nce"] = nce
            results["cloze"] = totals["cloze"] / max(totals["ordinary"], 1)
            results["loss"] = nce + results["cloze"]
        return results


def train_electric(config: ElectricTrainConfig, stop_after: int | None = None) -> Path:
    """Train Electric; the final model (`AutoModel`, "electric") lands in `config.output`, a joint
    noise model in `config.output/noise`."""
    return train(config, Electric(config), stop_after=stop_after)
