"""`train cloze` and `train electric` on two gloo processes (torchrun), against one process
accumulating two micro-batches: the same batches, noise draws and loss curve, the same weights.

Electric's `prepare` draws its noise from a model on the device, seeded by the micro-batch's
global index, so process r of 2 must draw at step s exactly what one process draws for its
micro-batch 2s + r; a joint noise model is a second trained model that DDP must synchronise too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.two_processes import torchrun_two
from textebm.recipes.config import save_config
from textebm.recipes.electric_config import ClozeTrainConfig, ElectricTrainConfig


def _curve(output: Path) -> list[dict]:
    """Every metrics record (train and validation), timings left out."""
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("tokens_per_second", "minutes")}
        for line in lines
    ]


def _assert_same_weights(got: Path, expected: Path) -> None:
    reference = load_file(str(expected / "model.safetensors"))
    saved = load_file(str(got / "model.safetensors"))
    assert saved.keys() == reference.keys()
    for name, tensor in saved.items():
        torch.testing.assert_close(tensor, reference[name], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["cloze", "electric"])
def test_two_processes_match_one_process_accumulating_two(
    electric_module, recipe, make_config, tmp_path
):
    from accelerate.state import AcceleratorState

    from textebm.recipes.cloze import train_cloze
    from textebm.recipes.electric import train_electric

    cls, run, extra = {
        "cloze": (ClozeTrainConfig, train_cloze, {}),
        # joint: the noise model is trained beside Electric and sampled in `prepare`.
        "electric": (ElectricTrainConfig, train_electric, {"noise": "joint"}),
    }[recipe]
    # fp32 on any CPU: where AMX makes `auto` mean bf16, its rounding would swamp the comparison
    settings = dict(max_steps=4, eval_every=2, checkpoint_every=2, mixed_precision="no", **extra)
    two = make_config(cls, output=str(tmp_path / "two"), **settings)
    config_file = tmp_path / "two.json"
    save_config(two, config_file)
    result = torchrun_two("-m", "textebm", "train", recipe, "--config", str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]

    AcceleratorState._reset_state(reset_partial_state=True)
    one = run(make_config(cls, output=str(tmp_path / "one"), grad_accumulation=2, **settings))
    got, expected = _curve(Path(two.output)), _curve(Path(one))
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    assert [r["split"] for r in got].count("validation") == 2
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert value == (pytest.approx(b[key], rel=1e-5) if key != "split" else b[key]), key
    state = json.loads((Path(two.output) / "checkpoints/step-00000004/state.json").read_text())
    assert state["processes"] == 2
    for folder in (".", *(("noise",) if recipe == "electric" else ())):
        _assert_same_weights(Path(two.output) / folder, Path(one) / folder)
