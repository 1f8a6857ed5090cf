"""Causal-LM recipe (GPT-2): `textebm train clm`, or `train_clm(ClmConfig(...))`.

The corpus becomes one token stream in which every line is `bos line eos` (bos is left out when
the tokenizer's bos is its eos, as in GPT-2's), cut into blocks of `context_length` tokens; the
loss is next-token cross-entropy at every position whose target is not a bos, since bos always
follows eos and predicting it would only flatter the loss. So the loss counts each word and each
line's eos, the standard way to report perplexity (PTB: `<unk>` an ordinary word), and the model
scores a lone sentence encoded `[CLS] x [SEP]` by our tokenizers as p(x, eos | bos). Documents need
no marker of their own: each ends with a line, hence with an eos, as GPT-2 separates documents.
Validation uses the same blocks, the last partial block included. The loss, with its maths, is
`textebm.objectives.causal_lm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, lines_of
from textebm.energies.causal_lm import causal_specials, frame
from textebm.errors import UsageError
from textebm.objectives.causal_lm import causal_lm_loss
from textebm.recipes.config import ClmConfig
from textebm.recipes.init import check_causal_lm, load_init
from textebm.recipes.loop import Batch, Models, train
from textebm.recipes.objective import to_device


@dataclass
class Blocks:
    """The token stream in blocks. input_ids: (n, length) int64; target: (n, length) bool."""

    input_ids: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.input_ids[index]


class CausalLM:
    """The `Objective` of GPT-2-style causal-LM training (see the module notes)."""

    name = "clm"

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if tokenizer.eos_token_id is None:
            raise UsageError(
                "the tokenizer has no eos token, which a causal LM needs at each "
                "line end; train one with `textebm train tokenizer`"
            )
        self.bos_id, self.eos_id = causal_specials(tokenizer)  # the layout `frame` writes
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    def build_model(self, config: ClmConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
        if config.init_from is not None:
            check_causal_lm(config.init_from)
            return load_init(config, tokenizer, AutoModelForCausalLM.from_pretrained)
        return GPT2LMHeadModel(
            GPT2Config(
                vocab_size=len(tokenizer),
                n_positions=config.context_length,
                n_embd=config.hidden_size,
                n_layer=config.layers,
                n_head=config.heads,
                n_inner=config.intermediate_size,
                resid_pdrop=config.dropout,
                embd_pdrop=config.dropout,
                attn_pdrop=config.dropout,
                bos_token_id=self.bos_id if self.bos_id is not None else self.eos_id,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
            )
        )

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: ClmConfig,
        train: bool,
    ) -> Blocks:
        # Each line follows the previous line's eos; a distinct bos is still written before it
        # (the same stream as `textebm.eval.perplexity.token_stream` reads).
        lines = frame(tokenizer, lines_of(documents), start=self.bos_id is not None)
        tokens = torch.tensor([token for ids in lines for token in ids], dtype=torch.long)
        length = config.context_length
        full = len(tokens) // length
        if not train and len(tokens) % length:  # evaluate on every token, padding the last block
            full += 1
            padding = torch.full((full * length - len(tokens),), self.pad_id, dtype=torch.long)
            target = torch.cat(
                [
                    torch.ones_like(tokens, dtype=torch.bool),
                    torch.zeros_like(padding, dtype=torch.bool),
                ]
            )
            tokens = torch.cat([tokens, padding])
        else:
            tokens = tokens[: full * length]
            target = torch.ones_like(tokens, dtype=torch.bool)
        if self.bos_id is not None:
            target &= tokens != self.bos_id
        return Blocks(tokens.view(full, length), target.view(full, length))

    def batch(
        self, examples: Blocks, indices: list[int], generator: torch.Generator | None
    ) -> Batch:
        input_ids = examples.input_ids[indices]
        labels = torch.where(examples.target[indices], input_ids, -100)
        return Batch(
            {"input_ids": input_ids, "labels": labels},
            {"loss": int((labels[:, 1:] != -100).sum())},
            input_ids.numel(),
        )

    def loss(self, models: Models, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": causal_lm_loss(models.main, inputs["input_ids"], inputs["labels"])}

    def evaluate(self, models: Models, examples: Blocks, config: ClmConfig) -> dict[str, float]:
        model = models.main
        count = (
            len(examples) if not config.eval_examples else min(config.eval_examples, len(examples))
        )
        device = next(model.parameters()).device
        total, targets = 0.0, 0
        for start in range(0, count, config.batch_size):
            batch = self.batch(
                examples, list(range(start, min(start + config.batch_size, count))), None
            )
            total += float(self.loss(models, to_device(batch.inputs, device))["loss"])
            targets += batch.counts["loss"]
        loss = total / max(targets, 1)
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": targets}


def train_clm(config: ClmConfig, stop_after: int | None = None) -> Path:
    """Train a causal LM; the final model (`AutoModelForCausalLM`) lands in `config.output`."""
    return train(config, CausalLM(), stop_after=stop_after)
