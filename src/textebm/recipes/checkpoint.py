"""Resumable checkpoints: model, optimizer and position, each written atomically.

A checkpoint is a folder `checkpoints/step-00000100/` holding `model.safetensors` (and
`NAME.safetensors` for each auxiliary model trained jointly), `optimizer.pt` (tensors and
numbers only, loaded with `weights_only=True`) and `state.json` (the
step, the recipe, the number of processes, the minutes trained). It is written to a temporary
folder and renamed into place, so a kill at any moment leaves the last complete checkpoint as it
was.

Nothing else needs saving for an exact resume: the data position is a function of the step (see
`loop.BatchOrder`), the learning rate is a pure function of the step (under `--time-budget`, of
the minutes trained, which the state keeps), and every random draw (masking, dropout) is seeded
from the seed and the micro-batch's index.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from textebm.data.folders import atomic_folder
from textebm.errors import UsageError

_NAME = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(output: Path) -> Path:
    return output / "checkpoints"


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None (temporary folders are ignored)."""
    folder = checkpoint_dir(output)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if _NAME.match(p.name) and p.is_dir())
    return found[-1] if found else None


def remove_partial(output: Path) -> None:
    """Delete temporary folders left by a checkpoint that a kill interrupted."""
    folder = checkpoint_dir(output)
    if folder.is_dir():
        for partial in folder.glob(".step-*"):
            shutil.rmtree(partial, ignore_errors=True)


def save_checkpoint(
    output: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    keep: int = 1,
    extra: dict[str, torch.nn.Module] | None = None,
) -> Path:
    """Write checkpoint `step` atomically, then delete all but the `keep` newest ones.

    extra: the auxiliary models trained jointly, by name, each saved as `NAME.safetensors`.
    """
    path = checkpoint_dir(output) / f"step-{step:08d}"
    with atomic_folder(path) as tmp:
        save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        for name, auxiliary in (extra or {}).items():
            save_model(auxiliary, str(tmp / f"{name}.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2) + "\n")
    older = sorted(p for p in checkpoint_dir(output).iterdir() if _NAME.match(p.name))[:-keep]
    for old in older:
        shutil.rmtree(old, ignore_errors=True)
    return path


def read_state(path: Path) -> dict[str, Any]:
    """The `state.json` of a checkpoint folder."""
    try:
        return json.loads((path / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"checkpoint {path} is unreadable ({error}); pass --overwrite") from None


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, torch.nn.Module] | None = None,
) -> None:
    """Restore model weights (and `extra` models') and optimizer state saved by
    `save_checkpoint`, in place."""
    for name, target in {"model": model, **(extra or {})}.items():
        file = path / f"{name}.safetensors"
        if not file.is_file():
            raise UsageError(f"checkpoint {path} has no {file.name}; pass --overwrite")
        missing, unexpected = load_model(target, str(file), strict=False)
        if missing or unexpected:
            raise UsageError(f"checkpoint {path} does not fit the {name}; pass --overwrite")
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))


def trained_tokens(path: Path, metrics: Path) -> int:
    """Tokens trained up to checkpoint `path`, over all processes: its state records them; for a
    checkpoint saved before it did, the sum of the train records in `metrics` up to its step (an
    undercount by the steps after the last record, when a checkpoint fell between records)."""
    state = read_state(path)
    if "tokens" in state:
        return int(state["tokens"])
    total = 0
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if record.get("split") == "train" and record.get("step", 0) <= state["step"]:
                total += record.get("tokens", 0)
    return total
