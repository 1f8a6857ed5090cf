"""Encoder-decoder translation recipe: `textebm train seq2seq`, or `train_seq2seq(config)`.

The autoregressive reference of the translation table (issue 14): a transformer in BART's layout
(`BartForConditionalGeneration`, learned positions, post-norm with an embedding layer norm) built
from the run's size, so that `save_pretrained`, `AutoModelForSeq2SeqLM.from_pretrained` and
`generate(num_beams=...)` come from Hugging Face. Source and target share the joint tokenizer of
the CMLM (`textebm train tokenizer` on both languages) and one embedding matrix, tied to the
output projection.

Layout, with the tokenizer's `[CLS]` as bos and `[SEP]` as eos:
    encoder input    [CLS] x_1 .. x_m [SEP]       (the tokenizer's single-sentence encoding)
    decoder input    [CLS] y_1 .. y_n              (`decoder_start_token_id` = [CLS])
    labels           y_1 .. y_n [SEP]
so the loss counts every target word and the eos, as perplexity is usually reported. Pairs whose
source or target encoding exceeds `--context-length` are left out of training and validation
(fairseq's `--skip-invalid-size-inputs-valid-test`): cutting one would teach an early eos or a
wrong alignment. The loss, summed over label tokens, is cross-entropy with optional label
smoothing (PyTorch's: eps/V on every class); validation reports the unsmoothed one.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForSeq2SeqLM, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents
from textebm.data.padding import right_pad
from textebm.data.parallel import read_parallel
from textebm.errors import UsageError
from textebm.models.seq2seq import seq2seq_model
from textebm.recipes.init import load_init
from textebm.recipes.loop import Batch, Models, train
from textebm.recipes.objective import to_device
from textebm.recipes.seq2seq_config import Seq2SeqConfig


@dataclass
class PairExample:
    """One tokenised pair; its length (for --group-by-length) is the longer side's."""

    source: list[int]
    target: list[int]

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))


class Seq2Seq:
    """The `Objective` of teacher-forced encoder-decoder training (see the module notes)."""

    name = "seq2seq"

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        missing = [
            name
            for name in ("cls_token_id", "sep_token_id", "pad_token_id")
            if getattr(tokenizer, name) is None
        ]
        if missing:
            raise UsageError(
                f"the tokenizer lacks {', '.join(n[:-9] for n in missing)} token(s), which "
                "begin, end and pad translations; make one with `textebm train tokenizer`"
            )
        self.pad_id = tokenizer.pad_token_id

    def build_model(
        self, config: Seq2SeqConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        if config.init_from is not None:
            return load_init(config, tokenizer, AutoModelForSeq2SeqLM.from_pretrained)
        return seq2seq_model(
            tokenizer,
            layers=config.layers,
            hidden_size=config.hidden_size,
            heads=config.heads,
            intermediate_size=config.intermediate_size,
            positions=config.context_length,
            dropout=config.dropout,
        )

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: Seq2SeqConfig,
        train: bool,
    ) -> list[PairExample]:
        # `documents` hold the target file only; the pairs come from both files, checked aligned.
        source, target = (
            (config.source, config.corpus)
            if train
            else (config.validation_source, config.validation)
        )
        pairs = read_parallel(source, target)
        encode = lambda texts: tokenizer(texts, add_special_tokens=True)["input_ids"]  # noqa: E731
        sources = encode([pair.source for pair in pairs])
        targets = encode([pair.target for pair in pairs])
        limit = config.context_length
        kept = [
            PairExample(s, t)
            for s, t in zip(sources, targets, strict=True)
            if len(s) <= limit and len(t) <= limit
        ]
        if len(kept) < len(pairs):
            print(
                f"textebm train seq2seq: left out {len(pairs) - len(kept)} of {len(pairs)} "
                f"{'training' if train else 'validation'} pairs longer than --context-length "
                f"{limit} tokens",
                file=sys.stderr,
            )
        if not kept:
            raise UsageError(f"every pair of {source} is longer than --context-length {limit}")
        return kept

    def batch(
        self, examples: list[PairExample], indices: list[int], generator: torch.Generator | None
    ) -> Batch:
        chosen = [examples[i] for i in indices]
        input_ids, attention_mask = right_pad([e.source for e in chosen], self.pad_id)
        decoder_ids, decoder_mask = right_pad([e.target[:-1] for e in chosen], self.pad_id)
        labels, label_mask = right_pad([e.target[1:] for e in chosen], self.pad_id)
        labels = labels.masked_fill(~label_mask.bool(), -100)
        targets = int(label_mask.sum())
        return Batch(
            {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "decoder_input_ids": decoder_ids,
                "decoder_attention_mask": decoder_mask,
                "labels": labels,
            },
            {"loss": targets},
            int(attention_mask.sum()) + int(decoder_mask.sum()),
        )

    def loss(
        self, models: Models, inputs: dict[str, torch.Tensor], smoothing: float | None = None
    ) -> dict[str, torch.Tensor]:
        """{"loss": cross-entropy summed over label tokens}; smoothing: None = the objective's."""
        labels = inputs["labels"]
        logits = models.main(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        loss = F.cross_entropy(
            logits.float().flatten(0, 1),
            labels.flatten(),
            ignore_index=-100,
            reduction="sum",
            label_smoothing=self.label_smoothing if smoothing is None else smoothing,
        )
        return {"loss": loss}

    def evaluate(
        self, models: Models, examples: list[PairExample], config: Seq2SeqConfig
    ) -> dict[str, float]:
        count = min(config.eval_examples or len(examples), len(examples))
        device = next(models.main.parameters()).device
        total, targets = 0.0, 0
        for start in range(0, count, config.batch_size):
            batch = self.batch(
                examples, list(range(start, min(start + config.batch_size, count))), None
            )
            terms = self.loss(models, to_device(batch.inputs, device), smoothing=0.0)
            total += float(terms["loss"])
            targets += batch.counts["loss"]
        loss = total / max(targets, 1)
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": targets, "pairs": count}


def train_seq2seq(config: Seq2SeqConfig, stop_after: int | None = None) -> Path:
    """Train an encoder-decoder; the final model (`AutoModelForSeq2SeqLM`) lands in
    `config.output`, with its tokenizer."""
    return train(config, Seq2Seq(config.label_smoothing), stop_after=stop_after)
