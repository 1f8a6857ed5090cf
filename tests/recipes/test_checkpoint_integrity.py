"""Checkpoints record the size and sha256 of every file they hold; a resume verifies them and
falls back past a damaged checkpoint, auxiliary models included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textebm.recipes.checkpoint import checkpoints, damage


@pytest.mark.slow
def test_every_file_is_recorded_and_a_corrupted_auxiliary_model_is_passed_over(
    toy, make_config, tmp_path, capsys
):
    cls, run = toy

    def toy_config(**values):
        return cls(**values)

    settings = dict(max_steps=8, checkpoint_every=2, keep_checkpoints=2, eval_every=0)
    straight = Path(run(make_config(toy_config, output=str(tmp_path / "straight"), **settings)))
    config = make_config(toy_config, output=str(tmp_path / "resumed"), **settings)
    run(config, stop_after=7)
    newest = checkpoints(Path(config.output))[-1]
    assert newest.name == "step-00000006"
    recorded = json.loads((newest / "state.json").read_text())["files"]
    on_disk = {p.name for p in newest.iterdir()} - {"state.json"}
    assert set(recorded) == on_disk >= {"model.safetensors", "classifier.safetensors"}
    assert damage(newest) is None

    aux = newest / "classifier.safetensors"
    raw = bytearray(aux.read_bytes())
    raw[-1] ^= 0xFF  # a flipped bit in the last weight: same size, loads, wrong
    aux.write_bytes(bytes(raw))
    assert "classifier.safetensors differs" in damage(newest)
    capsys.readouterr()
    resumed = Path(run(config))
    err = capsys.readouterr().err
    assert "checkpoint step-00000006 is damaged" in err and "from step-00000004" in err, err
    for folder in (".", "classifier"):
        reference = load_file(straight / folder / "model.safetensors")
        final = load_file(resumed / folder / "model.safetensors")
        assert all(torch.equal(final[k], reference[k]) for k in reference), folder
