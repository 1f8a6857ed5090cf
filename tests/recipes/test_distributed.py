"""Two-process data-parallel training (gloo on CPU) through Accelerate, launched by torchrun
(`tests.two_processes`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.two_processes import torchrun_two
from textebm.recipes.config import save_config


def losses(output) -> list[float]:
    lines = (Path(output) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


@pytest.mark.slow
def test_two_processes_match_one_process_accumulating_two(make_config, tmp_path):
    """Process r of 2 takes micro-batch 2s + r at step s; one process accumulating 2 takes both.

    Same examples, masks and dropout, and a token-weighted loss: the runs agree to rounding.
    """
    from accelerate.state import AcceleratorState

    from textebm.recipes.mlm import train_mlm

    # fp32 on any CPU: where AMX makes `auto` mean bf16, its rounding would swamp the comparison
    fp32 = dict(mixed_precision="no")
    two = make_config(output=str(tmp_path / "two"), max_steps=4, eval_every=2, **fp32)
    config_file = tmp_path / "two.json"
    save_config(two, config_file)
    result = torchrun_two("-m", "textebm", "train", "mlm", "--config", str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]

    AcceleratorState._reset_state(reset_partial_state=True)
    one = train_mlm(
        make_config(
            output=str(tmp_path / "one"), max_steps=4, eval_every=2, grad_accumulation=2, **fp32
        )
    )
    assert losses(two.output) == pytest.approx(losses(one), rel=1e-5)
    state = json.loads((Path(two.output) / "checkpoints/step-00000004/state.json").read_text())
    assert state["processes"] == 2
    reference = load_file(str(Path(one) / "model.safetensors"))
    for name, tensor in load_file(str(Path(two.output) / "model.safetensors")).items():
        torch.testing.assert_close(tensor, reference[name], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_toy_objective_on_two_processes_resumes_and_saves_both_models(toy, make_config, tmp_path):
    """The toy objective (a frozen noise model sampled in `prepare`, a jointly trained classifier,
    two terms with their own normalisers) on two gloo processes, stopped after step 3 and
    resumed: the same curve and models as one process accumulating two micro-batches."""
    from accelerate.state import AcceleratorState

    cls, run = toy
    settings = dict(max_steps=4, eval_every=2, checkpoint_every=2, mixed_precision="no")
    two = make_config(cls, output=str(tmp_path / "two"), **settings)
    config_file = tmp_path / "two.json"
    save_config(two, config_file)
    script = Path(__file__).with_name("toy_objective.py")
    for stop_after in ("3", None):  # interrupted after step 3 (checkpoint at 2), then resumed
        result = torchrun_two(str(script), str(config_file), *([stop_after] if stop_after else []))
        assert result.returncode == 0, result.stderr[-3000:]
        if stop_after:
            assert not (Path(two.output) / "model.safetensors").exists()

    AcceleratorState._reset_state(reset_partial_state=True)
    one = run(make_config(cls, output=str(tmp_path / "one"), grad_accumulation=2, **settings))

    def train_curve(output) -> list[tuple]:
        lines = (Path(output) / "metrics.jsonl").read_text().splitlines()
        return [
            (r["step"], r["loss"], r["replaced"], r["label"])
            for r in map(json.loads, lines)
            if r["split"] == "train"
        ]

    assert [r[0] for r in train_curve(two.output)] == [1, 2, 3, 4]
    for a, b in zip(train_curve(two.output), train_curve(one), strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    for folder in (".", "classifier"):
        reference = load_file(str(Path(one) / folder / "model.safetensors"))
        saved = load_file(str(Path(two.output) / folder / "model.safetensors"))
        assert saved.keys() == reference.keys()
        for name, tensor in saved.items():
            torch.testing.assert_close(tensor, reference[name], rtol=1e-4, atol=1e-5)
