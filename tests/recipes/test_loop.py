"""The shared training loop: exact resume, determinism, data order, schedule, saved models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

from textebm.recipes.checkpoint import latest_checkpoint
from textebm.recipes.config import ClmConfig, MlmConfig
from textebm.recipes.loop import BatchOrder, learning_rate


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def curve(output) -> list[tuple]:
    """Every metric except timings, in order: what an identical run must reproduce."""
    skip = {"tokens_per_second"}
    return [tuple((k, v) for k, v in r.items() if k not in skip) for r in records(output)]


def weights(output) -> dict[str, torch.Tensor]:
    return load_file(str(Path(output) / "model.safetensors"))


def _check_resume(cls, run, make_config, tmp_path, subfolders=()) -> None:
    settings = dict(max_steps=8, group_by_length=True)
    straight = run(make_config(cls, output=str(tmp_path / "straight"), **settings))
    config = make_config(cls, output=str(tmp_path / "resumed"), **settings)
    run(config, stop_after=5)  # checkpoint at step 3, then "killed" after step 5
    assert latest_checkpoint(Path(config.output)).name == "step-00000003"
    assert max(r["step"] for r in records(config.output)) == 5
    assert not (Path(config.output) / "model.safetensors").exists()
    resumed = run(config)  # steps 4 and 5 are redone, their records replaced
    assert curve(resumed) == curve(straight)
    for folder in (".", *subfolders):
        for name, tensor in weights(Path(straight) / folder).items():
            assert torch.equal(tensor, weights(Path(resumed) / folder)[name]), (folder, name)


def test_resume_after_interruption_continues_the_same_curve(recipe, make_config, tmp_path):
    cls, run = recipe
    _check_resume(cls, run, make_config, tmp_path)


def test_resume_with_noise_from_a_model_and_a_jointly_trained_model(toy, make_config, tmp_path):
    """The toy objective draws its noise from a frozen model in `prepare` and trains a classifier
    beside its main model: a resumed run redraws the same noise and restores the classifier."""
    cls, run = toy
    _check_resume(cls, run, make_config, tmp_path, subfolders=("classifier",))


def test_same_seed_same_run_other_seed_other_run(make_config, tmp_path):
    from textebm.recipes.mlm import train_mlm

    first = train_mlm(make_config(output=str(tmp_path / "a"), max_steps=3))
    second = train_mlm(make_config(output=str(tmp_path / "b"), max_steps=3))
    other = train_mlm(make_config(output=str(tmp_path / "c"), max_steps=3, seed=1))
    assert curve(first) == curve(second)
    assert curve(first) != curve(other)


def test_metrics_and_saved_models(recipe, make_config):
    cls, run = recipe
    output = run(make_config(cls))
    lines = records(output)
    train = [r for r in lines if r["split"] == "train"]
    validation = [r for r in lines if r["split"] == "validation"]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in validation] == [3, 6]
    assert train[-1]["loss"] < train[0]["loss"]
    for r in validation:
        assert r["perplexity"] == pytest.approx(math.exp(r["loss"]))
    if cls is MlmConfig:
        assert validation[-1]["pseudo_perplexity"] > 1
        model = AutoModelForMaskedLM.from_pretrained(output)
    else:
        model = AutoModelForCausalLM.from_pretrained(output)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    json.loads((Path(output) / "train_config.json").read_text())


def test_mlm_output_loads_for_scoring(make_config):
    from textebm.energies import MaskedLMEnergy
    from textebm.models.loading import load_masked_lm
    from textebm.recipes.mlm import train_mlm

    model, tokenizer = load_masked_lm(str(train_mlm(make_config(max_steps=2))), device="cpu")
    scored = MaskedLMEnergy(model, tokenizer).score_texts(["the cat sat on the tree ."])
    assert scored[0].n_tokens == 7 and math.isfinite(scored[0].energy)


def test_bf16_mixed_precision(make_config):
    from textebm.recipes.clm import train_clm

    if not torch.cpu._is_avx512_bf16_supported() and not torch.cuda.is_available():
        pytest.skip("no bf16 support here")
    output = train_clm(make_config(ClmConfig, max_steps=2, mixed_precision="bf16"))
    assert all(math.isfinite(r["loss"]) for r in records(output))
    assert all(t.dtype == torch.float32 for t in weights(output).values())


def test_batch_order_covers_each_epoch_once_and_is_a_pure_function():
    order = BatchOrder(10, 3, seed=0)
    first_epoch = [order(i) for i in range(3)]
    flat = [i for batch in first_epoch for i in batch]
    assert len(set(flat)) == 9 and all(0 <= i < 10 for i in flat)
    assert order(3) != first_epoch[0]  # a new permutation
    assert BatchOrder(10, 3, seed=0)(1) == first_epoch[1]


def test_grouping_by_length_makes_batches_of_similar_lengths():
    lengths = torch.randint(1, 100, (640,), generator=torch.Generator().manual_seed(0))
    order = BatchOrder(640, 8, seed=0, lengths=lengths)
    batches = [order(i) for i in range(80)]
    assert sorted(i for batch in batches for i in batch) == list(range(640))
    spread = [int(lengths[b].max() - lengths[b].min()) for b in batches]
    assert max(spread) < 20  # random batches of 8 span about 75
    assert batches[0] != sorted(batches, key=lambda b: -lengths[b[0]])[0]  # batch order shuffled


def test_learning_rate_schedule(make_config):
    config = make_config(max_steps=100, warmup_fraction=0.1, learning_rate=1.0)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 55) == pytest.approx(0.5)
    config = make_config(max_steps=100, warmup_fraction=0.0, learning_rate=1.0, schedule="cosine")
    assert learning_rate(config, 50) == pytest.approx(0.5)


def test_dataset_with_its_validation_split(make_config, corpus, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    from textebm.recipes.clm import train_clm

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ds"
    folder.mkdir()
    for split, path in (("train", corpus[0]), ("validation", corpus[1])):
        rows = [{"text": line} for line in path.read_text().splitlines() if line]
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    output = train_clm(
        make_config(ClmConfig, corpus=None, validation=None, dataset=str(folder), max_steps=2)
    )
    assert [r["step"] for r in records(output) if r["split"] == "validation"] == [2]


def test_init_from_a_trained_model(make_config, tmp_path):
    from textebm.recipes.mlm import train_mlm

    first = train_mlm(make_config(output=str(tmp_path / "first"), max_steps=2))
    second = train_mlm(
        make_config(
            output=str(tmp_path / "second"),
            max_steps=2,
            tokenizer=None,
            init_from=str(first),
            layers=5,
        )
    )
    model = AutoModelForMaskedLM.from_pretrained(second)
    assert model.config.num_hidden_layers == 1  # the size comes from the pretrained model


@pytest.mark.slow
def test_compiled_training_follows_the_eager_curve(make_config, tmp_path):
    from textebm.recipes.clm import train_clm

    settings = dict(max_steps=4, dropout=0.0, eval_every=0, checkpoint_every=0)
    eager = train_clm(make_config(ClmConfig, output=str(tmp_path / "eager"), **settings))
    compiled = train_clm(
        make_config(ClmConfig, output=str(tmp_path / "compiled"), compile=True, **settings)
    )
    eager_loss = [r["loss"] for r in records(eager) if r["split"] == "train"]
    compiled_loss = [r["loss"] for r in records(compiled) if r["split"] == "train"]
    # Kernels fuse differently, so equal to rounding, not bitwise; the saved model is eager.
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-4)
    assert (compiled / "model.safetensors").exists()
