"""Classifier recipe, with optional joint EBM training: `textebm train classifier`, or
`train_classifier(ClassifierConfig(...))`.

Fine-tunes any encoder (`--init-from`, loaded with `AutoModelForSequenceClassification`, so a
masked LM's or a plain encoder's folder works and the classification head starts afresh) or a
fresh BERT of the preset's size, on single sentences or sentence pairs from GLUE-style TSV or a
Hugging Face dataset (`--dataset`). The run folder ends as an
`AutoModelForSequenceClassification` folder (id2label from `--labels`, or from the dataset's
ClassLabel column); with
`--energy scalar` the energy head is trained jointly, as an auxiliary model, and saved beside it
in `energy_head/` (`textebm.models.energy_head`).

Loss per step: cross-entropy (term "ce", mean over the data sequences) and, with an energy, the
residual NCE of `textebm.objectives.joint_ebm` times lambda: "nce_data" (mean over the data
batch) and "nce_noise" (K noise batches of the data batch's size, each averaged, summed: the term
is normalised by the number of data sequences). "ce" keeps its name without an energy too, so
metrics compare across variants.

Labelled data: the shared loop reads `--corpus`'s (or `--dataset`'s) `--text-column` as plain
documents, which carry no labels or pairs; `examples` therefore reads the labelled rows itself,
from the same source (`config.corpus` or the dataset's `--split` when training; `config.validation`
or the dataset's validation split, the loop's choice, when validating), with
`textebm.data.labelled`. This keeps the loop unchanged at the cost of reading each source twice.
Noise examples are drawn (with replacement) from the noise file with the micro-batch's seeded
generator, so a resumed run draws the very same noise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
)
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents
from textebm.data.labelled import (
    count_labels,
    parse_label_names,
    read_labelled_from,
)
from textebm.data.noise import read_noise, task_fingerprint, tokenizer_fingerprint
from textebm.data.padding import right_pad
from textebm.energies.classifier import classify, energy_from_outputs
from textebm.errors import UsageError
from textebm.models.energy_head import HEAD_FOLDER, EnergyHead, EnergyHeadConfig
from textebm.objectives.joint_ebm import residual_nce_terms
from textebm.recipes.classifier_config import ClassifierConfig
from textebm.recipes.init import bert_settings, load_init
from textebm.recipes.loop import Batch, Models, train
from textebm.recipes.objective import Auxiliary, to_device


@dataclass
class Encoded:
    """Tokenised texts: ids and token types (0 first text, 1 second text) per example."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]

    def __len__(self) -> int:
        return len(self.input_ids)

    def collate(self, indices: list[int], pad_id: int, types: bool) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask (and, if `types`, token_type_ids): (batch, longest) int64,
        right-padded."""
        input_ids, attention_mask = right_pad([self.input_ids[i] for i in indices], pad_id)
        out = {"input_ids": input_ids, "attention_mask": attention_mask}
        if types:
            out["token_type_ids"] = right_pad([self.token_type_ids[i] for i in indices], 0)[0]
        return out


@dataclass
class LabelledSet:
    """Training or validation examples: texts, labels (n,) int64, and (training) noise."""

    texts: Encoded
    labels: torch.Tensor
    noise: Encoded | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> list[int]:  # lengths, for --group-by-length
        return self.texts.input_ids[index]


def encode(
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    pairs: list[str] | None,
    max_length: int,
) -> Encoded:
    """Texts (and second texts) as the classifier reads them, cut to `max_length` tokens."""
    encoded = tokenizer(
        texts, pairs, truncation=True, max_length=max_length, return_token_type_ids=True
    )
    return Encoded(encoded["input_ids"], encoded["token_type_ids"])


def takes_token_types(model: PreTrainedModel) -> bool:
    """Whether the model reads token types: its forward takes them and it has more than one
    (RoBERTa has one, DistilBERT's forward takes none)."""
    parameters = inspect.signature(model.forward).parameters
    return "token_type_ids" in parameters and getattr(model.config, "type_vocab_size", 0) > 1


class Classifier:
    """The `Objective` of classifier fine-tuning, joint with NCE (see the module notes)."""

    name = "classifier"

    def __init__(self, config: ClassifierConfig) -> None:
        self.config = config
        self.label_names = parse_label_names(config.labels)
        self.class_names: list[str] | None = None  # a ClassLabel column's, without --labels
        self.num_labels: int | None = None
        self.hidden_size: int | None = None

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if tokenizer.pad_token_id is None:
            raise UsageError("the tokenizer has no pad token, which batches of texts need")
        self.pad_id = tokenizer.pad_token_id

    def build_model(
        self, config: ClassifierConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        assert self.num_labels is not None, "examples() runs before build_model()"
        names = self.label_names or self.class_names or [str(i) for i in range(self.num_labels)]
        labels = dict(
            num_labels=self.num_labels,
            id2label=dict(enumerate(names)),
            label2id={name: i for i, name in enumerate(names)},
        )
        if config.init_from is not None:
            # A classifier with another number of classes gets a fresh head.
            model = load_init(
                config,
                tokenizer,
                lambda folder: AutoModelForSequenceClassification.from_pretrained(
                    folder, ignore_mismatched_sizes=True, **labels
                ),
            )
        else:
            model = BertForSequenceClassification(
                BertConfig(**bert_settings(config, tokenizer), **labels)
            )
        self.hidden_size = model.config.hidden_size
        self.types = takes_token_types(model)
        self.head_dropout = getattr(model.config, "hidden_dropout_prob", config.dropout)
        return model

    def auxiliary_models(
        self, config: ClassifierConfig, tokenizer: PreTrainedTokenizerBase
    ) -> dict[str, Auxiliary]:
        if config.energy != "scalar":
            return {}
        head_config = EnergyHeadConfig(hidden_size=self.hidden_size, dropout=self.head_dropout)
        return {HEAD_FOLDER: Auxiliary(EnergyHead(head_config), trained=True)}

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: ClassifierConfig,
        train: bool,
    ) -> LabelledSet:
        # `documents` hold the text column only; the labelled rows come from the same source:
        # a file, or else a dataset split (validation: the one the loop chose by the same rule).
        path = config.corpus if train else config.validation
        split = config.split if train else config.validation_split or "validation"
        rows = read_labelled_from(
            path,
            config.dataset,
            split,
            text_column=config.text_column or "sentence",
            label_column=config.label_column,
            text_pair_column=config.text_pair_column,
            label_names=self.label_names,
            num_labels=None if train else self.num_labels,
        )
        if train:
            if self.label_names is None:
                self.class_names = rows.class_names  # None for a file
            if self.class_names is not None:
                self.num_labels = len(self.class_names)
            else:
                self.num_labels = count_labels(rows, self.label_names)
            if self.num_labels < 2:
                source = path or f"dataset {config.dataset!r} split {split!r}"
                raise UsageError(f"{source}: every label is 0; a classifier needs two classes")
        pairs = None if config.text_pair_column is None else [r.text_pair for r in rows]
        texts = encode(tokenizer, [r.text for r in rows], pairs, config.context_length)
        labels = torch.tensor([r.label for r in rows], dtype=torch.long)
        noise = None
        if train and config.noise_file is not None:
            found = read_noise(
                config.noise_file,
                task=task_fingerprint(rows),
                tokenizer=tokenizer_fingerprint(tokenizer),
                pairs=pairs is not None,
            )
            noise_pairs = None if pairs is None else [n.text_pair for n in found]
            noise = encode(tokenizer, [n.text for n in found], noise_pairs, config.context_length)
        return LabelledSet(texts, labels, noise)

    def batch(self, examples: LabelledSet, indices: list[int], generator: torch.Generator) -> Batch:
        inputs = {"data": examples.texts.collate(indices, self.pad_id, self.types)}
        inputs["labels"] = examples.labels[indices]
        size = len(indices)
        counts = {"ce": size}
        tokens = int(inputs["data"]["attention_mask"].sum())
        if examples.noise is not None and self.config.energy != "none":
            # K noise batches of the data batch's size, drawn with replacement.
            draws = torch.randint(
                len(examples.noise), (self.config.noise_ratio * size,), generator=generator
            )
            inputs["noise"] = examples.noise.collate(draws.tolist(), self.pad_id, self.types)
            counts.update(nce_data=size, nce_noise=size)
            tokens += int(inputs["noise"]["attention_mask"].sum())
        return Batch(inputs, counts, tokens)

    def _energy(self, models: Models, logits, hidden) -> torch.Tensor:
        head = models[HEAD_FOLDER] if self.config.energy == "scalar" else None
        return energy_from_outputs(self.config.energy, logits, hidden, head)

    def loss(self, models: Models, inputs: dict) -> dict[str, torch.Tensor]:
        config = self.config
        scalar = config.energy == "scalar"
        logits, hidden = classify(models.main, inputs["data"], need_hidden=scalar)
        ce = F.cross_entropy(
            logits.float(),
            inputs["labels"],
            reduction="sum",
            label_smoothing=config.label_smoothing,
        )
        terms = {"ce": ce}
        if "noise" in inputs:
            noise_logits, noise_hidden = classify(models.main, inputs["noise"], need_hidden=scalar)
            data_terms, noise_terms = residual_nce_terms(
                self._energy(models, logits, hidden),
                self._energy(models, noise_logits, noise_hidden),
                config.noise_ratio,
            )
            terms["nce_data"] = config.nce_weight * data_terms.sum()
            terms["nce_noise"] = config.nce_weight * noise_terms.sum()
        return terms

    def evaluate(
        self, models: Models, examples: LabelledSet, config: ClassifierConfig
    ) -> dict[str, float]:
        """Accuracy and mean negative log-likelihood (no label smoothing); with an energy, the
        mean energy of the validation texts."""
        count = len(examples)
        if config.eval_examples:
            count = min(config.eval_examples, count)
        device = next(models.main.parameters()).device
        scalar = config.energy == "scalar"
        nll, right, energy = 0.0, 0, 0.0
        for start in range(0, count, config.batch_size):
            indices = list(range(start, min(start + config.batch_size, count)))
            inputs = to_device(examples.texts.collate(indices, self.pad_id, self.types), device)
            labels = examples.labels[indices].to(device)
            logits, hidden = classify(models.main, inputs, need_hidden=scalar)
            nll += float(F.cross_entropy(logits.float(), labels, reduction="sum"))
            right += int((logits.argmax(-1) == labels).sum())
            if config.energy != "none":
                energy += float(self._energy(models, logits, hidden).sum())
        results = {"nll": nll / count, "accuracy": right / count}
        if config.energy != "none":
            results["energy"] = energy / count
        return results


def train_classifier(config: ClassifierConfig, stop_after: int | None = None) -> Path:
    """Train a classifier (and its energy); the final model lands in `config.output`, loadable
    with `AutoModelForSequenceClassification` (the scalar head in `config.output/energy_head`)."""
    return train(config, Classifier(config), stop_after=stop_after)
