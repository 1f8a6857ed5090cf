"""Conditional masked LM recipe: `textebm train cmlm --source FILE --target FILE`, or
`train_cmlm(CmlmConfig(...))`.

Examples are line pairs (`data.parallel.read_parallel`: misaligned files are an error), each
side encoded `[CLS] line [SEP]` with the one joint tokenizer; pairs with either side longer than
`--context-length` tokens are left out (cutting a target would teach the length predictor wrong
lengths), and their number is reported. Per micro-batch, `batch` (CPU, seeded) masks every
target as Mask-Predict does (`objectives.cmlm.choose_masks`: k ~ U{1..n} masks, uniformly
placed), and `loss` returns the terms "masked" (cross-entropy summed over masked tokens,
normalised by their number) and "length" (w x length NLL, normalised by the pairs).
Validation: the same loss on the held-out pairs with fixed masks, plus the length predictor's
accuracy (argmax = true length) and the masked tokens' accuracy.

The loop reads `--target` as its corpus (for nothing but the line count it would otherwise
check); the pairs are read here from both files, as the classifier recipe reads its labels.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents
from textebm.data.padding import right_pad
from textebm.data.parallel import read_parallel
from textebm.errors import UsageError
from textebm.objectives.cmlm import choose_masks, cmlm_loss
from textebm.recipes.cmlm_config import CmlmConfig
from textebm.recipes.init import load_init
from textebm.recipes.loop import Batch, Models, derive_seed, train
from textebm.recipes.objective import to_device


@dataclass
class Pairs:
    """Encoded pairs: sources[i] and targets[i], each `[CLS] ... [SEP]` token ids."""

    sources: list[list[int]]
    targets: list[list[int]]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> list[int]:  # lengths, for --group-by-length
        return self.targets[index]


def build_cmlm(config: CmlmConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A fresh CMLM of the configured size, or the one in `config.init_from`."""
    from textebm.models.cmlm import CMLMConfig, CMLMModel

    if config.init_from is not None:

        def load(folder: str) -> PreTrainedModel:
            model = CMLMModel.from_pretrained(folder)
            if model.config.model_type != CMLMConfig.model_type:
                raise UsageError(f"--init-from {folder} holds no conditional masked LM")
            return model

        return load_init(config, tokenizer, load)
    settings = CMLMConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        encoder_layers=config.layers,
        decoder_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.intermediate_size,
        dropout=config.dropout,
        max_position_embeddings=config.context_length,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CMLMModel(settings)


class CMLM:
    """The `Objective` of conditional masked-LM training (see the module notes)."""

    name = "cmlm"

    def __init__(self, config: CmlmConfig) -> None:
        self.config = config

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        names = ("pad", "cls", "sep", "mask")
        missing = [n for n in names if getattr(tokenizer, f"{n}_token_id") is None]
        if missing:
            raise UsageError(
                f"the tokenizer has no {', '.join(missing)} token, which the cmlm recipe needs; "
                "train one with `textebm train tokenizer`"
            )
        self.pad_id, self.mask_id = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id

    def build_model(self, config: CmlmConfig, tokenizer: PreTrainedTokenizerBase):
        return build_cmlm(config, tokenizer)

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: CmlmConfig,
        train: bool,
    ) -> Pairs:
        # `documents` hold the target side only; the pairs come from both files.
        if train:
            pairs = read_parallel(config.source, config.corpus)
        else:
            pairs = read_parallel(config.validation_source, config.validation)
        wrap = [self.cls_id], [self.sep_id]

        def encode(texts: list[str]) -> list[list[int]]:
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            return [wrap[0] + row + wrap[1] for row in ids]

        sources = encode([p.source for p in pairs])
        targets = encode([p.target for p in pairs])
        limit = config.context_length
        kept = [i for i in range(len(pairs)) if max(len(sources[i]), len(targets[i])) <= limit]
        if not kept:
            raise UsageError(f"every pair is longer than --context-length {limit} tokens")
        if len(kept) < len(pairs):
            print(
                f"textebm train cmlm: left out {len(pairs) - len(kept)} of {len(pairs)} "
                f"{'training' if train else 'validation'} pairs longer than {limit} tokens",
                file=sys.stderr,
            )
        return Pairs([sources[i] for i in kept], [targets[i] for i in kept])

    def batch(self, examples: Pairs, indices: list[int], generator: torch.Generator) -> Batch:
        source, source_mask = right_pad([examples.sources[i] for i in indices], self.pad_id)
        target, target_mask = right_pad([examples.targets[i] for i in indices], self.pad_id)
        content = target_mask.bool()
        content[:, 0] = False  # [CLS]
        content[torch.arange(len(indices)), target_mask.sum(dim=1) - 1] = False  # [SEP]
        masked = choose_masks(content, generator)
        inputs = {
            "source_ids": source,
            "source_mask": source_mask,
            "masked_target": target.masked_fill(masked, self.mask_id),
            "target_mask": target_mask,
            "target": target,
            "masked": masked,
            "lengths": content.sum(dim=1),
        }
        counts = {"masked": int(masked.sum()), "length": len(indices)}
        tokens = int(source_mask.sum() + target_mask.sum())
        return Batch(inputs, counts, tokens)

    def loss(self, models: Models, inputs: dict) -> dict[str, torch.Tensor]:
        masked, length = cmlm_loss(models.main, **inputs, length_weight=self.weight)
        return {"masked": masked, "length": length}

    @property
    def weight(self) -> float:
        return self.config.length_loss_weight

    def evaluate(self, models: Models, examples: Pairs, config: CmlmConfig) -> dict[str, float]:
        """Masked-token loss and accuracy, length NLL and accuracy on held-out pairs, with the
        same masks every time."""
        model = models.main
        n = min(len(examples), config.eval_examples or len(examples))
        device = next(model.parameters()).device
        generator = torch.Generator().manual_seed(derive_seed(config.seed, "validation"))
        totals = dict(masked=0.0, right=0, count=0, length=0.0, length_right=0)
        for start in range(0, n, config.batch_size):
            indices = list(range(start, min(start + config.batch_size, n)))
            inputs = to_device(self.batch(examples, indices, generator).inputs, device)
            encoded = model.encode(inputs["source_ids"], inputs["source_mask"])
            logits = model.decode(
                inputs["masked_target"],
                inputs["target_mask"],
                encoded.last_hidden_state,
                inputs["source_mask"],
            )[inputs["masked"]].float()
            truth = inputs["target"][inputs["masked"]]
            totals["masked"] += float(
                torch.nn.functional.cross_entropy(logits, truth, reduction="sum")
            )
            totals["right"] += int((logits.argmax(dim=1) == truth).sum())
            totals["count"] += len(truth)
            length_log_probs = model.predict_length(encoded)
            lengths = inputs["lengths"]
            totals["length"] -= float(length_log_probs.gather(1, lengths.unsqueeze(1)).sum())
            totals["length_right"] += int((length_log_probs.argmax(dim=1) == lengths).sum())
        masked = totals["masked"] / max(totals["count"], 1)
        length = totals["length"] / max(n, 1)
        return {
            "loss": masked + self.weight * length,
            "masked": masked,
            "perplexity": math.exp(min(masked, 50.0)),
            "accuracy": totals["right"] / max(totals["count"], 1),
            "length_nll": length,
            "length_accuracy": totals["length_right"] / max(n, 1),
        }


def train_cmlm(config: CmlmConfig, stop_after: int | None = None) -> Path:
    """Train a conditional masked LM; the final model (`AutoModel`, "textebm-cmlm") and the
    tokenizer land in `config.output`."""
    return train(config, CMLM(config), stop_after=stop_after)
