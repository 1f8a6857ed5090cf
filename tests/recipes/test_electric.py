"""The cloze and Electric recipes: training, exact resume, the noise, init-from, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from textebm.errors import UsageError
from textebm.models.cloze import ClozeModel
from textebm.recipes.checkpoint import latest_checkpoint
from textebm.recipes.cloze import train_cloze
from textebm.recipes.electric_config import ClozeTrainConfig, ElectricTrainConfig


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def _check_resume(cls, run, make_config, tmp_path, subfolders=()) -> None:
    """A run killed after step 5 (checkpoint at step 3) and resumed ends where a straight one
    does: the same metrics (timings aside) and bit-identical weights (as in test_loop.py)."""
    settings = dict(max_steps=8, group_by_length=True)
    straight = run(make_config(cls, output=str(tmp_path / "straight"), **settings))
    config = make_config(cls, output=str(tmp_path / "resumed"), **settings)
    run(config, stop_after=5)
    assert latest_checkpoint(Path(config.output)).name == "step-00000003"
    resumed = run(config)

    def curve(output):
        return [{k: v for k, v in r.items() if k != "tokens_per_second"} for r in records(output)]

    assert curve(resumed) == curve(straight)
    for folder in (".", *subfolders):
        expected = load_file(str(Path(straight) / folder / "model.safetensors"))
        got = load_file(str(Path(resumed) / folder / "model.safetensors"))
        assert expected.keys() == got.keys()
        for name, tensor in expected.items():
            assert torch.equal(tensor, got[name]), (folder, name)


@pytest.fixture
def noise_folder(make_config, tmp_path) -> Path:
    """A two-tower cloze model trained for two steps on the fixture corpus."""
    return train_cloze(make_config(ClozeTrainConfig, output=str(tmp_path / "noise"), max_steps=2))


@pytest.mark.slow
def test_cloze_trains_resumes_exactly_and_loads_with_auto_model(make_config, tmp_path):
    _check_resume(ClozeTrainConfig, train_cloze, make_config, tmp_path)
    output = Path(tmp_path / "straight")
    train = [r for r in records(output) if r["split"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"]
    validation = [r for r in records(output) if r["split"] == "validation"]
    assert validation[-1]["perplexity"] > 1
    assert isinstance(AutoModel.from_pretrained(output), ClozeModel)


@pytest.mark.slow
def test_electric_with_a_frozen_noise_model_resumes_exactly(
    electric_module, noise_folder, make_config, tmp_path
):
    from textebm.recipes.electric import train_electric

    def run(config, stop_after=None):
        return train_electric(config, stop_after=stop_after)

    def make(cls, **values):
        return make_config(cls, noise=str(noise_folder), **values)

    _check_resume(ElectricTrainConfig, run, make, tmp_path)
    output = tmp_path / "straight"
    validation = [r for r in records(output) if r["split"] == "validation"]
    assert 0 <= validation[-1]["accuracy"] <= 1 and validation[-1]["loss"] > 0
    # a randomly initialised encoder reads its context: shuffling moves token energies
    assert validation[-1]["context_shift"] > 0 and validation[-1]["energy_spread"] > 0
    model = AutoModel.from_pretrained(output)
    assert isinstance(model, electric_module.ElectricModel)
    assert not (output / "noise").exists()  # a frozen noise model is not saved again


@pytest.mark.slow
def test_electric_with_a_joint_noise_model_resumes_exactly(electric_module, make_config, tmp_path):
    from textebm.recipes.electric import train_electric

    def make(cls, **values):
        return make_config(cls, noise="joint", **values)

    _check_resume(ElectricTrainConfig, train_electric, make, tmp_path, subfolders=("noise",))
    output = tmp_path / "straight"
    train = [r for r in records(output) if r["split"] == "train"]
    assert {"nce", "cloze"} <= set(train[0])
    assert train[0]["loss"] == pytest.approx(train[0]["nce"] + train[0]["cloze"])
    noise = AutoModel.from_pretrained(output / "noise")
    assert isinstance(noise, ClozeModel)
    assert noise.config.n_embd == 16 and noise.config.n_layer == 1  # half of 32 wide, 1 layer
    settings = json.loads((output / "train_config.json").read_text())
    assert settings["noise"] == "joint" and settings["noise_hidden_size"] == 16


def test_prepare_replaces_the_chosen_tokens_and_reads_q_on_the_original(
    electric_module, noise_folder, make_config, corpus, tokenizer_dir
):
    from textebm.data.corpus import load_corpus
    from textebm.data.tokenizers import load_tokenizer_folder
    from textebm.recipes.electric import Electric
    from textebm.recipes.objective import Models

    config = make_config(ElectricTrainConfig, noise=str(noise_folder))
    objective = Electric(config)
    tokenizer = load_tokenizer_folder(str(tokenizer_dir))
    objective.check_tokenizer(tokenizer)
    examples = objective.examples(load_corpus(str(corpus[0]), None), tokenizer, config, train=True)
    noise = objective.auxiliary_models(config, tokenizer)["noise"].model.eval()
    models = Models(objective.build_model(config, tokenizer), {})
    models.auxiliary = objective.auxiliary_models(config, tokenizer)
    models.auxiliary["noise"].model.eval()
    batch = objective.batch(examples, list(range(16)), torch.Generator().manual_seed(0))
    inputs = batch.inputs
    n = inputs["ordinary"].sum(1)
    k = inputs["chosen"].sum(1)
    assert k.tolist() == [max(1, round(0.15 * m)) if m >= 2 else 0 for m in n.tolist()]
    with torch.no_grad():
        objective.prepare(models, batch, torch.Generator().manual_seed(1))
        log_q = noise(inputs["input_ids"], inputs["attention_mask"]).logits.float()
    unchanged = ~inputs["chosen"]
    assert torch.equal(inputs["corrupted"][unchanged], inputs["input_ids"][unchanged])
    log_q[..., objective.context_ids] = -torch.inf
    log_q = log_q.log_softmax(-1).gather(-1, inputs["corrupted"][..., None])[..., 0]
    ordinary = inputs["ordinary"]
    torch.testing.assert_close(inputs["log_q"][ordinary], log_q[ordinary])
    assert not torch.isin(inputs["corrupted"][inputs["chosen"]], objective.context_ids).any()


def test_init_from_a_bert_masked_lm_copies_its_encoder(electric_module, make_config, tmp_path):
    from textebm.recipes.electric import train_electric
    from textebm.recipes.mlm import train_mlm

    mlm = train_mlm(make_config(output=str(tmp_path / "mlm"), max_steps=1, layers=2))
    config = make_config(
        ElectricTrainConfig,
        noise="joint",
        init_from=str(mlm),
        tokenizer=None,
        output=str(tmp_path / "electric"),
        max_steps=1,
        learning_rate=1e-9,
    )
    output = train_electric(config)
    electric = AutoModel.from_pretrained(output)
    encoder = AutoModel.from_pretrained(mlm)  # the masked LM's BERT, without its head
    assert electric.config.num_hidden_layers == 2
    embedding = electric.bert.embeddings.word_embeddings.weight
    torch.testing.assert_close(
        embedding, encoder.embeddings.word_embeddings.weight, atol=1e-6, rtol=0
    )


def test_bad_noise_settings_are_one_line_errors(make_config, noise_folder, tmp_path):
    from textebm.recipes.electric import train_electric

    with pytest.raises(UsageError, match="--noise DIR"):
        make_config(ElectricTrainConfig)
    with pytest.raises(UsageError, match="no model folder"):
        make_config(ElectricTrainConfig, noise=str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="mask_probability"):
        make_config(ElectricTrainConfig, noise="joint", mask_probability=1.5)
    with pytest.raises(UsageError, match="noise_uniform"):
        make_config(ElectricTrainConfig, noise="joint", noise_uniform=1.0)
    with pytest.raises(UsageError, match="multiple of noise_heads"):
        make_config(ElectricTrainConfig, noise="joint", noise_hidden_size=15, noise_heads=2)
    mlm_folder = tmp_path / "not-cloze"
    from textebm.recipes.mlm import train_mlm

    train_mlm(make_config(output=str(mlm_folder), max_steps=1))
    config = make_config(ElectricTrainConfig, noise=str(mlm_folder), output=str(tmp_path / "e"))
    with pytest.raises(UsageError, match="not a two-tower cloze model"):
        train_electric(config)
    assert not (tmp_path / "e").exists()  # stopped before the run folder was made


def test_command_line_trains_cloze_then_electric_and_rejects_bad_input(
    electric_module, corpus, tokenizer_dir, tmp_path, capsys, monkeypatch
):
    from textebm.cli.main import main

    monkeypatch.setenv("CI", "1")  # no progress bars
    common = [
        *("--corpus", str(corpus[0]), "--tokenizer", str(tokenizer_dir)),
        *("--layers", "1", "--hidden-size", "32", "--heads", "2", "--intermediate-size", "64"),
        *("--context-length", "16", "--batch-size", "8", "--max-steps", "2"),
    ]
    noise = tmp_path / "noise"
    assert main(["train", "cloze", *common, "--output", str(noise)]) == 0
    assert isinstance(AutoModel.from_pretrained(noise), ClozeModel)
    electric = tmp_path / "electric"
    argv = ["train", "electric", *common, "--noise", str(noise), "--prior", "constant"]
    assert main([*argv, "--output", str(electric)]) == 0
    assert "model saved to" in capsys.readouterr().out
    assert isinstance(AutoModel.from_pretrained(electric), electric_module.ElectricModel)
    bad = (
        ([*argv[:-4], "--output", str(tmp_path / "a")], "--noise DIR"),
        ([*argv[:-4], "--noise", str(tmp_path / "none"), "--output", str(tmp_path / "b")], "no"),
        ([*argv, "--output", str(tmp_path / "c"), "--mask-probability", "0"], "mask_probability"),
        ([*argv[:-4], "--noise", str(electric), "--output", str(tmp_path / "d")], "cloze"),
    )
    for arguments, expected in bad:
        capsys.readouterr()
        assert main(arguments) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err and expected in err, err


def test_the_nce_gradient_reaches_every_electric_weight_and_no_noise_weight(
    electric_module, noise_folder, make_config, corpus, tokenizer_dir
):
    """A frozen-by-mistake encoder or a q that carries gradient would train the wrong model."""
    from textebm.data.corpus import load_corpus
    from textebm.data.tokenizers import load_tokenizer_folder
    from textebm.recipes.electric import Electric
    from textebm.recipes.objective import Models

    config = make_config(ElectricTrainConfig, noise=str(noise_folder), noise_uniform=0.1)
    objective = Electric(config)
    tokenizer = load_tokenizer_folder(str(tokenizer_dir))
    objective.check_tokenizer(tokenizer)
    examples = objective.examples(load_corpus(str(corpus[0]), None), tokenizer, config, train=True)
    models = Models(objective.build_model(config, tokenizer), {})
    models.auxiliary = objective.auxiliary_models(config, tokenizer)
    noise = models["noise"].eval()
    batch = objective.batch(examples, list(range(16)), torch.Generator().manual_seed(0))
    with torch.no_grad():
        objective.prepare(models, batch, torch.Generator().manual_seed(1))
    assert not batch.inputs["log_q"].requires_grad
    objective.loss(models, batch.inputs)["loss"].backward()
    for name, parameter in models.main.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in noise.parameters())
