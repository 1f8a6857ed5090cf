"""Two-process data-parallel training (gloo on CPU) through Accelerate, launched by torchrun.

Separate processes, not `accelerate.debug_launcher`: that forks the test process, and a fork
taken after torch's thread pool has run (any earlier test) can deadlock the child in OpenMP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

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

    two = make_config(output=str(tmp_path / "two"), max_steps=4, eval_every=2)
    config_file = tmp_path / "two.json"
    save_config(two, config_file)
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29531",
        "-m",
        "textebm",
        "train",
        "mlm",
    ]
    result = subprocess.run(
        [*torchrun, "--config", str(config_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

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
