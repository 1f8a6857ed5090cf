"""Noise-model recipe (He et al. 2021's "partial to full" GPT-2): `textebm train noise-lm`, or
`train_noise_lm(NoiseLmConfig(...))`.

A causal LM learns to rewrite a masked version of a text into the full text. Each example is

    bos  m_1 .. m_j  eos  x_1 .. x_n  eos

where x is the text's tokens and m is x with each token replaced by the mask token with
probability `mask_probability` (0.4), every run of consecutive masks merged into one. The loss is
the next-token cross-entropy of `x_1 .. x_n eos` only (`textebm.objectives.causal_lm`): the model
is never asked to predict the masked prompt. Masks are drawn afresh every time an example is
batched, from the micro-batch's seeded generator (the reference re-draws them each epoch), so a
resumed run sees the same masks; validation draws them from a fixed seed, so its loss compares
across evaluations. Sampling it (`textebm generate-noise --method rewrite`) gives noise close to,
but not equal to, each training text.

Pairs: with `text_pair_column`, both sides are training texts of their own; generation rewrites
each side of a pair separately, which keeps the pairing.

Texts are cut to (context_length - 3) // 2 tokens, so that prompt and target always fit. The
model and tokenizer setup is `CausalLM`'s (GPT-2 from scratch, or `--init-from`), by composition.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, lines_of
from textebm.data.files import read_lines
from textebm.data.padding import right_pad
from textebm.data.rewrite import longest_text, rewrite_prompt
from textebm.errors import UsageError
from textebm.objectives.causal_lm import IGNORE, causal_lm_loss
from textebm.recipes.clm import CausalLM
from textebm.recipes.loop import Batch, Models, train
from textebm.recipes.noise_lm_config import NoiseLmConfig
from textebm.recipes.objective import to_device


def tsv_column(path: str, name: str) -> list[str]:
    """The non-blank cells of one named column of a TSV file with a header row."""
    lines = read_lines(path)
    header = lines[0].split("\t") if lines else []
    if name not in header:
        raise UsageError(f"{path} has no column {name!r} (--text-pair-column); header: {header}")
    at = header.index(name)
    cells = [line.split("\t")[at] for line in lines[1:] if line.strip() and "\t" in line]
    return [cell for cell in cells if cell.strip()]


def adopt_bert_specials(tokenizer: PreTrainedTokenizerBase) -> None:
    """Give a BERT-style tokenizer without bos/eos (MiniLM's, a stock WordPiece one) its [CLS] as
    bos and [SEP] as eos, in place.

    The noise must be written in the classifier's tokens, so the noise LM uses the encoder's
    tokenizer, which marks a text `[CLS] x [SEP]` and names no bos or eos; the causal layout needs
    both. They are existing tokens: the vocabulary (and the noise fingerprint) stays the same, and
    the run folder saves the tokenizer with them, so `generate-noise --method rewrite` reads the
    same layout.
    """
    if tokenizer.eos_token_id is None and tokenizer.sep_token_id is not None:
        tokenizer.eos_token = tokenizer.sep_token
        if tokenizer.bos_token_id is None and tokenizer.cls_token_id is not None:
            tokenizer.bos_token = tokenizer.cls_token


class NoiseLM:
    """The `Objective` of the rewrite noise model (see the module notes)."""

    name = "noise-lm"

    def __init__(self, config: NoiseLmConfig) -> None:
        self.config = config
        self.clm = CausalLM()  # the GPT-2 setup, shared by composition

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        adopt_bert_specials(tokenizer)
        self.clm.check_tokenizer(tokenizer)
        if tokenizer.mask_token_id is None:
            raise UsageError(
                "the tokenizer has no mask token, which the masked prompts need; use the "
                "encoder's tokenizer (--tokenizer DIR)"
            )
        self.mask_id = tokenizer.mask_token_id
        self.bos_id, self.eos_id, self.pad_id = self.clm.bos_id, self.clm.eos_id, self.clm.pad_id

    def build_model(
        self, config: NoiseLmConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        return self.clm.build_model(config, tokenizer)

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: NoiseLmConfig,
        train: bool,
    ) -> list[list[int]]:
        texts = lines_of(documents)
        path = config.corpus if train else config.validation
        if config.text_pair_column is not None and path is not None:
            texts += tsv_column(path, config.text_pair_column)
        longest = longest_text(config.context_length)
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [ids[:longest] for ids in encoded if ids]

    def batch(
        self, examples: list[list[int]], indices: list[int], generator: torch.Generator | None
    ) -> Batch:
        if generator is None:  # validation: the same masks at every evaluation
            generator = torch.Generator().manual_seed(0)
        rows, targets = [], []
        for index in indices:
            ids = examples[index]
            prompt = rewrite_prompt(
                ids, self.bos_id, self.eos_id, self.mask_id, self.config.mask_probability, generator
            )
            rows.append(prompt + ids + [self.eos_id])
            targets.append([IGNORE] * len(prompt) + ids + [self.eos_id])
        input_ids, _ = right_pad(rows, self.pad_id)
        labels, _ = right_pad(targets, IGNORE)
        return Batch(
            {"input_ids": input_ids, "labels": labels},
            {"loss": int((labels != IGNORE).sum())},
            sum(len(row) for row in rows),
        )

    def loss(self, models: Models, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": causal_lm_loss(models.main, inputs["input_ids"], inputs["labels"])}

    def evaluate(
        self, models: Models, examples: list[list[int]], config: NoiseLmConfig
    ) -> dict[str, float]:
        count = (
            len(examples) if not config.eval_examples else min(config.eval_examples, len(examples))
        )
        device = next(models.main.parameters()).device
        generator = torch.Generator().manual_seed(0)
        total, targets = 0.0, 0
        for start in range(0, count, config.batch_size):
            indices = list(range(start, min(start + config.batch_size, count)))
            batch = self.batch(examples, indices, generator)
            total += float(self.loss(models, to_device(batch.inputs, device))["loss"])
            targets += batch.counts["loss"]
        loss = total / max(targets, 1)
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": targets}


def train_noise_lm(config: NoiseLmConfig, stop_after: int | None = None) -> Path:
    """Train the rewrite noise model; it lands in `config.output` (`AutoModelForCausalLM`)."""
    return train(config, NoiseLM(config), stop_after=stop_after)
