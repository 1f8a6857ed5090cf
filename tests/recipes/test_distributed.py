"""Two-process data-parallel training (gloo on CPU) through Accelerate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textebm.recipes.config import MlmConfig


def _train_in_worker(config: MlmConfig) -> None:
    """Runs in each forked process: forget the parent's single-process Accelerate state."""
    from accelerate.state import AcceleratorState

    from textebm.recipes.mlm import train_mlm

    torch.set_num_threads(1)
    AcceleratorState._reset_state(reset_partial_state=True)
    train_mlm(config)


def losses(output) -> list[float]:
    lines = (Path(output) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def test_two_processes_match_one_process_accumulating_two(make_config, tmp_path):
    """Process r of 2 takes micro-batch 2s + r at step s; one process accumulating 2 takes both.

    Same examples, masks and dropout, and a token-weighted loss: the runs agree to rounding.
    """
    from accelerate import debug_launcher
    from accelerate.state import AcceleratorState

    from textebm.recipes.mlm import train_mlm

    two = make_config(output=str(tmp_path / "two"), max_steps=4, eval_every=2)
    debug_launcher(_train_in_worker, args=(two,), num_processes=2)
    AcceleratorState._reset_state(reset_partial_state=True)
    one = train_mlm(
        make_config(output=str(tmp_path / "one"), max_steps=4, eval_every=2, grad_accumulation=2)
    )
    assert losses(two.output) == pytest.approx(losses(one), rel=1e-5)
    state = json.loads((Path(two.output) / "checkpoints/step-00000004/state.json").read_text())
    assert state["processes"] == 2
    reference = load_file(str(Path(one) / "model.safetensors"))
    for name, tensor in load_file(str(Path(two.output) / "model.safetensors")).items():
        torch.testing.assert_close(tensor, reference[name], rtol=1e-4, atol=1e-5)
