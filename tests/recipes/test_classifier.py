"""The classifier recipe: fine-tuning with and without a jointly trained energy (NCE)."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.recipes.tiny_run import TINY_RUN
from textebm.data.labelled import read_labelled
from textebm.data.noise import NoiseExample, task_fingerprint, tokenizer_fingerprint, write_noise
from textebm.data.tokenizers import load_tokenizer_folder
from textebm.errors import UsageError
from textebm.recipes.classifier import Classifier, train_classifier
from textebm.recipes.classifier_config import ClassifierConfig
from textebm.recipes.objective import Models

WORDS = "the a cat dog bird child sat ran saw ate sang on in big small red green old".split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))


def write_tsv(path, rows: int, seed: int, pairs: bool = False) -> None:
    """Label "pos" when the sentence holds "cat", else "neg": learnable from one token."""
    rng = random.Random(seed)
    header = "sentence1\tsentence2\tlabel" if pairs else "sentence\tlabel"
    lines = [header]
    for _ in range(rows):
        text = sentence(rng)
        label = "pos" if "cat" in text.split() else "neg"
        lines.append(f"{text}\t{sentence(rng)}\t{label}" if pairs else f"{text}\t{label}")
    path.write_text("\n".join(lines) + "\n")


def write_noise_for(path, train, tokenizer_dir, pairs: bool = False, seed: int = 3) -> None:
    columns = dict(text_column="sentence1", text_pair_column="sentence2") if pairs else {}
    rows = read_labelled(train, label_names=["neg", "pos"], **columns)
    rng = random.Random(seed)
    noise = [NoiseExample(sentence(rng), sentence(rng) if pairs else None) for _ in range(50)]
    tokenizer = load_tokenizer_folder(str(tokenizer_dir))
    write_noise(path, noise, task_fingerprint(rows), tokenizer_fingerprint(tokenizer))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, tokenizer_dir):
    folder = tmp_path_factory.mktemp("labelled")
    write_tsv(folder / "train.tsv", 64, seed=1)
    write_tsv(folder / "dev.tsv", 16, seed=2)
    write_tsv(folder / "train_pairs.tsv", 64, seed=1, pairs=True)
    write_tsv(folder / "dev_pairs.tsv", 16, seed=2, pairs=True)
    write_noise_for(folder / "noise.jsonl", folder / "train.tsv", tokenizer_dir)
    write_noise_for(
        folder / "noise_pairs.jsonl", folder / "train_pairs.tsv", tokenizer_dir, pairs=True
    )
    return folder


@pytest.fixture
def make(labelled, tokenizer_dir, tmp_path):
    def config(**overrides) -> ClassifierConfig:
        values = dict(
            corpus=str(labelled / "train.tsv"),
            validation=str(labelled / "dev.tsv"),
            tokenizer=str(tokenizer_dir),
            output=str(tmp_path / "run"),
            labels="neg,pos",
            **{**TINY_RUN, "context_length": 24},
        )
        return ClassifierConfig(**{**values, **overrides})

    return config


def records(output, split="train") -> list[dict]:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def test_plain_fine_tuning(make):
    output = train_classifier(make())
    train = records(output)
    assert len(train) == 6 and all(set(r) >= {"ce", "loss"} for r in train)
    assert "nce_data" not in train[0] and train[0]["loss"] == pytest.approx(train[0]["ce"])
    validation = records(output, "validation")
    assert {"accuracy", "nll"} <= set(validation[-1]) and "energy" not in validation[-1]
    model = AutoModelForSequenceClassification.from_pretrained(output)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert not (output / "energy_head").exists()


@pytest.mark.parametrize("energy", ["hidden", "sharp-hidden"])
def test_logit_energies_log_their_terms(make, labelled, energy):
    config = make(energy=energy, noise_file=str(labelled / "noise.jsonl"), noise_ratio=2)
    output = train_classifier(config)
    for record in records(output):
        terms = record["ce"] + record["nce_data"] + record["nce_noise"]
        assert record["loss"] == pytest.approx(terms)
    assert "energy" in records(output, "validation")[-1]


def test_scalar_energy_resumes_exactly_and_saves_its_head(make, labelled, tmp_path):
    from textebm.models.loading import load_classifier

    values = dict(energy="scalar", noise_file=str(labelled / "noise.jsonl"), noise_ratio=2)
    whole = train_classifier(make(output=str(tmp_path / "whole"), **values))
    resumed_config = make(output=str(tmp_path / "resumed"), **values)
    train_classifier(resumed_config, stop_after=3)
    resumed = train_classifier(resumed_config)
    assert [r["loss"] for r in records(whole)] == [r["loss"] for r in records(resumed)]
    model, _, head = load_classifier(str(resumed), device="cpu")
    again, _, head_whole = load_classifier(str(whole), device="cpu")
    assert head is not None
    for a, b in zip(head.parameters(), head_whole.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_sentence_pairs(make, labelled):
    config = make(
        corpus=str(labelled / "train_pairs.tsv"),
        validation=str(labelled / "dev_pairs.tsv"),
        text_column="sentence1",
        text_pair_column="sentence2",
        energy="hidden",
        noise_file=str(labelled / "noise_pairs.jsonl"),
    )
    objective = Classifier(config)
    tokenizer = load_tokenizer_folder(config.tokenizer)
    objective.check_tokenizer(tokenizer)
    examples = objective.examples([], tokenizer, config, train=True)
    objective.build_model(config, tokenizer)
    batch = objective.batch(examples, [0, 1], torch.Generator().manual_seed(0))
    data = batch.inputs["data"]
    # [CLS] a [SEP] b [SEP]: the second text has token type 1
    assert int((data["input_ids"][0] == tokenizer.sep_token_id).sum()) == 2
    assert data["token_type_ids"][0].max() == 1
    assert batch.inputs["noise"]["token_type_ids"].max() == 1
    output = train_classifier(config)
    assert "nce_noise" in records(output)[-1]


def test_noise_of_single_sentences_refused_for_pairs(make, labelled):
    config = make(
        corpus=str(labelled / "train_pairs.tsv"),
        validation=str(labelled / "dev_pairs.tsv"),
        text_column="sentence1",
        text_pair_column="sentence2",
        energy="hidden",
        noise_file=str(labelled / "noise.jsonl"),
    )
    with pytest.raises(UsageError, match="another task"):
        train_classifier(config)


def test_noise_for_another_tokenizer_refused(make, labelled, tmp_path):
    rows = read_labelled(labelled / "train.tsv", label_names=["neg", "pos"])
    write_noise(
        tmp_path / "other.jsonl", [NoiseExample("the cat")], task_fingerprint(rows), "0" * 16
    )
    config = make(energy="hidden", noise_file=str(tmp_path / "other.jsonl"))
    with pytest.raises(UsageError, match="another tokenizer"):
        train_classifier(config)
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


class FixedLogits(torch.nn.Module):
    """A stand-in classifier: logits[i] = table[input_ids[i, 0]]."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def forward(self, input_ids, attention_mask, output_hidden_states=False, **_):
        return SimpleNamespace(logits=self.table[input_ids[:, 0]])


def test_loss_terms_by_hand(make, labelled):
    """Two classes, logits (0, log 3) for token 0 and (log 2, log 2) for token 1.

    ce with label 0 and smoothing 0.2 (targets 0.9, 0.1): -(0.9 log 1/4 + 0.1 log 3/4);
    hidden energies -log 4 (token 0) and -log 4 (token 1); K = 2, lambda = 0.5:
    data term log(1 + 2/4) = log 1.5; noise term log(2 + 4) = log 6, over 2 noise examples.
    """
    config = make(
        energy="hidden",
        noise_file=str(labelled / "noise.jsonl"),
        noise_ratio=2,
        nce_weight=0.5,
        label_smoothing=0.2,
    )
    objective = Classifier(config)
    table = torch.tensor([[0.0, math.log(3)], [math.log(2), math.log(2)]])
    ones = torch.ones(1, 1, dtype=torch.long)
    inputs = {
        "data": {"input_ids": torch.zeros(1, 1, dtype=torch.long), "attention_mask": ones},
        "labels": torch.tensor([0]),
        "noise": {
            "input_ids": torch.ones(2, 1, dtype=torch.long),
            "attention_mask": ones.repeat(2, 1),
        },
    }
    with torch.no_grad():
        terms = objective.loss(Models(FixedLogits(table)), inputs)
    ce = -(0.9 * math.log(0.25) + 0.1 * math.log(0.75))
    assert float(terms["ce"]) == pytest.approx(ce)
    assert float(terms["nce_data"]) == pytest.approx(0.5 * math.log(1.5))
    assert float(terms["nce_noise"]) == pytest.approx(0.5 * 2 * math.log(6))


def test_batch_draws_k_noise_batches_seeded(make, labelled):
    config = make(energy="hidden", noise_file=str(labelled / "noise.jsonl"), noise_ratio=3)
    objective = Classifier(config)
    tokenizer = load_tokenizer_folder(config.tokenizer)
    objective.check_tokenizer(tokenizer)
    examples = objective.examples([], tokenizer, config, train=True)
    objective.types = False
    first = objective.batch(examples, [0, 1, 2, 3], torch.Generator().manual_seed(5))
    again = objective.batch(examples, [0, 1, 2, 3], torch.Generator().manual_seed(5))
    assert first.inputs["noise"]["input_ids"].shape[0] == 12
    # the noise term is normalised by the data batch's size: noise weighs K times the data
    assert first.counts == {"ce": 4, "nce_data": 4, "nce_noise": 4}
    assert torch.equal(first.inputs["noise"]["input_ids"], again.inputs["noise"]["input_ids"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(energy="hidden"), "--noise-file"),
        (dict(noise_file="x.jsonl"), "is for NCE"),
        (dict(noise_ratio=0), "noise_ratio"),
        (dict(nce_weight=-1.0), "nce_weight"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(labels="pos"), "at least two"),
    ],
)
def test_bad_configuration(make, overrides, message):
    with pytest.raises(UsageError, match=message):
        make(**overrides)


def test_unknown_dev_label_refused(make, labelled, tmp_path):
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nthe cat\tmaybe\n")
    with pytest.raises(UsageError, match="unknown label 'maybe'"):
        train_classifier(make(validation=str(tmp_path / "dev.tsv")))
