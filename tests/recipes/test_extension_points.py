"""The training loop's extension points, through the toy objective (tests/recipes/toy_objective.py):
a frozen and a jointly trained auxiliary model, noise drawn from a model in a seeded `prepare`,
two loss terms with their own normalisers, batches of nested tensors and a 4-D attention mask."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from textebm.recipes.objective import Batch, to_device
from textebm.recipes.term_window import TermWindow

SETTINGS = dict(max_steps=4, eval_every=2, checkpoint_every=2, log_every=1)


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def test_toy_trains_both_models_and_keeps_the_noise_model_frozen(toy, make_config):
    cls, run = toy
    config = make_config(lambda **v: cls(**v), **SETTINGS)
    output = Path(run(config))
    train = [r for r in records(output) if r["split"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    for r in train:  # both terms logged, each normalised on its own; the loss is their sum
        assert r["loss"] == pytest.approx(r["replaced"] + r["label"])
        assert 0 < r["replaced"] < 3 and 0 < r["label"] < 3
    assert [r["step"] for r in records(output) if r["split"] == "validation"] == [2, 4]
    # The main model at the top, the jointly trained one in its own subfolder, the frozen not.
    assert (output / "model.safetensors").exists()
    classifier = AutoModelForSequenceClassification.from_pretrained(output / "classifier")
    assert classifier.config.num_labels == 2
    assert not (output / "noise").exists()
    step = output / "checkpoints" / "step-00000004"
    assert (step / "classifier.safetensors").exists() and not (step / "noise.safetensors").exists()
    # The optimiser holds the main model and the classifier, not the noise model.
    main = load_file(str(output / "model.safetensors"))
    optimizer = torch.load(step / "optimizer.pt", weights_only=True)
    held = sum(len(group["params"]) for group in optimizer["param_groups"])
    assert held == len(main) + len(list(classifier.parameters()))


def test_noise_is_seeded_by_the_micro_batch(toy, make_config, noise_dir, corpus, tokenizer_dir):
    """Same micro-batch index, same noise; another index, other noise; drawn from the model."""
    from textebm.data.corpus import read_corpus
    from textebm.data.tokenizers import load_tokenizer_folder
    from textebm.recipes.objective import Models

    cls, _ = toy
    config = make_config(lambda **v: cls(**v), noise_fraction=1.0)
    module = __import__("toy_objective")
    objective = module.Toy(config)
    tokenizer = load_tokenizer_folder(str(tokenizer_dir))
    objective.check_tokenizer(tokenizer)
    examples = objective.examples(read_corpus(str(corpus[0])), tokenizer, config, train=True)
    auxiliary = objective.auxiliary_models(config, tokenizer)
    models = Models(objective.build_model(config, tokenizer).eval(), auxiliary)
    for a in auxiliary.values():
        a.model.eval()

    clean = objective.batch(examples, [0, 1, 2, 3], None).inputs

    def noise(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        batch = objective.batch(examples, [0, 1, 2, 3], None)
        with torch.no_grad():
            batch = objective.prepare(models, batch, torch.Generator().manual_seed(seed))
        return batch.inputs["tokens"]["input_ids"], batch.inputs["replaced"].bool()

    (first, replaced), (again, _), (other, _) = noise(1), noise(1), noise(2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    # Only ordinary tokens are redrawn (all of them, but for rare draws of the same token),
    # always as ordinary tokens; special tokens and padding stay.
    ordinary = clean["ordinary"]
    assert not (replaced & ~ordinary).any() and replaced.sum() > 0.8 * ordinary.sum()
    assert not torch.isin(first[ordinary], objective.special_ids).any()
    assert torch.equal(first[~ordinary], clean["tokens"]["input_ids"][~ordinary])


def test_term_window_normalises_each_term_by_its_own_count():
    class Single:  # one process: reduce is the identity
        def reduce(self, tensor, reduction):
            return tensor

    window = TermWindow(torch.device("cpu"))
    # Two micro-batches: 3 + 5 tokens carry 6.0 + 2.0 of "per_token"; 2 + 2 sequences carry
    # 1.0 + 3.0 of "per_sequence".
    window.add({"per_token": torch.tensor(6.0), "per_sequence": torch.tensor(1.0)})
    window.add({"per_token": torch.tensor(2.0), "per_sequence": torch.tensor(3.0)})
    window.count({"per_token": 8, "per_sequence": 4}, tokens=8)
    window.seconds = 2.0
    record = window.record(Single())
    assert record["tokens"] == 8 and record["tokens_per_second"] == 4.0
    assert math.isclose(record["per_token"], 1.0) and math.isclose(record["per_sequence"], 1.0)
    assert math.isclose(record["loss"], 8 / 8 + 4 / 4)
    window.add({"per_token": torch.tensor(3.0)})
    window.count({"per_token": 2}, tokens=2)
    assert window.record(Single())["loss"] == 1.5  # started afresh
    with pytest.raises(ValueError, match="tokens"):
        window.add({"tokens": torch.tensor(1.0)})  # would overwrite the token count


def test_nested_batch_inputs_move_to_the_device_whole():
    batch = Batch(
        {
            "pair": {"source": torch.ones(2, 3), "target": [torch.zeros(2), (torch.ones(1),)]},
            "name": "kept",
        },
        {"loss": 1},
        6,
    )
    moved = to_device(batch.inputs, torch.device("meta"))
    assert moved["pair"]["source"].device.type == "meta"
    assert moved["pair"]["target"][0].device.type == "meta"
    assert isinstance(moved["pair"]["target"][1], tuple)
    assert moved["pair"]["target"][1][0].device.type == "meta"
    assert moved["name"] == "kept"
