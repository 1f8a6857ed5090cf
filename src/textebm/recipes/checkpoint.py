"""Resumable checkpoints: model, optimizer and position, each written atomically.

A checkpoint is a folder `checkpoints/step-00000100/` holding `model.safetensors` (and
`NAME.safetensors` for each auxiliary model trained jointly, `objective.safetensors` for an
objective's own state such as a replay buffer), `optimizer.pt` (tensors and
numbers only, loaded with `weights_only=True`) and `state.json` (the
step, the recipe, the number of processes, the minutes trained). It is written to a temporary
folder and renamed into place, so a kill at any moment leaves the last complete checkpoint as it
was.

`state.json` also records the size and sha256 of every other file of the checkpoint (`files`).
A resume verifies them before trusting a checkpoint: a disk that filled up, a copy cut short or a
file edited by hand shows as a mismatch, and the run falls back to the newest intact checkpoint
(with one warning line) or stops with a one-line error if there is none. A checkpoint written
before the sizes were recorded is trusted if its files load.

Nothing else needs saving for an exact resume: the data position is a function of the step (see
`loop.BatchOrder`), the learning rate is a pure function of the step (under `--time-budget`, of
the minutes trained, which the state keeps), and every random draw (masking, dropout) is seeded
from the seed and the micro-batch's index. An objective whose state changes as it trains (a
replay buffer of model samples) saves that state with the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from textebm.data.folders import atomic_folder
from textebm.errors import UsageError

_NAME = re.compile(r"^step-(\d{8})$")
OBJECTIVE_FILE = "objective.safetensors"


def checkpoint_dir(output: Path) -> Path:
    return output / "checkpoints"


def checkpoints(output: Path) -> list[Path]:
    """The complete checkpoints of a run folder, oldest first (temporary folders are ignored)."""
    folder = checkpoint_dir(output)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name) and p.is_dir())


def latest_checkpoint(output: Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None; not verified (see `restore`)."""
    found = checkpoints(output)
    return found[-1] if found else None


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _inventory(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"bytes", "sha256"}} of every file under `folder` but `state.json`."""
    return {
        file.relative_to(folder).as_posix(): {"bytes": file.stat().st_size, "sha256": _sha256(file)}
        for file in sorted(folder.rglob("*"))
        if file.is_file() and file.name != "state.json"
    }


def damage(path: Path) -> str | None:
    """What is wrong with checkpoint `path` against the sizes and hashes its state records, or
    None when it is intact (or predates the records: then only loading it can tell)."""
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "state.json is missing or unreadable"
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        return "state.json records no step"
    for name, record in state.get("files", {}).items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        size = file.stat().st_size
        if size != record["bytes"]:
            return f"{name} holds {size} bytes, not the {record['bytes']} written"
        if _sha256(file) != record["sha256"]:
            return f"{name} differs from what was written (sha256)"
    return None


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
    objective_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write checkpoint `step` atomically, then delete all but the `keep` newest ones.

    extra: the auxiliary models trained jointly, by name, each saved as `NAME.safetensors`.
    objective_state: the objective's own tensors, saved as `objective.safetensors`.
    """
    path = checkpoint_dir(output) / f"step-{step:08d}"
    with atomic_folder(path) as tmp:
        save_model(model, str(tmp / "model.safetensors"))  # handles tied weights
        for name, auxiliary in (extra or {}).items():
            save_model(auxiliary, str(tmp / f"{name}.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if objective_state is not None:
            tensors = {name: t.detach().cpu().contiguous() for name, t in objective_state.items()}
            save_file(tensors, str(tmp / OBJECTIVE_FILE))
        # Hashed from the files as written, so a resume can tell them from damaged copies.
        state = {"step": step, **state, "files": _inventory(tmp)}
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
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


class Damaged(Exception):
    """A checkpoint file that is missing or does not load: the message says which and why."""


# What a truncated or garbled safetensors or torch.save file raises when loaded.
_UNLOADABLE = (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError, SafetensorError)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, torch.nn.Module] | None = None,
    load_objective: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> None:
    """Restore model weights (and `extra` models') and optimizer state saved by
    `save_checkpoint`, in place, and hand `objective.safetensors` to `load_objective` when
    given. Raises `Damaged` for a file that is missing or does not load."""
    for name, target in {"model": model, **(extra or {})}.items():
        file = path / f"{name}.safetensors"
        if not file.is_file():
            raise Damaged(f"{file.name} is missing")
        try:
            missing, unexpected = load_model(target, str(file), strict=False)
        except _UNLOADABLE as error:
            raise Damaged(f"{file.name} does not load ({_first_line(error)})") from None
        if missing or unexpected:
            raise UsageError(f"checkpoint {path} does not fit the {name}; pass --overwrite")
    file = path / "optimizer.pt"
    try:
        optimizer.load_state_dict(torch.load(file, weights_only=True))
    except _UNLOADABLE as error:
        raise Damaged(f"{file.name} does not load ({_first_line(error)})") from None
    if load_objective is not None:
        file = path / OBJECTIVE_FILE
        if not file.is_file():
            raise Damaged(f"{file.name} is missing")
        try:
            tensors = load_file(str(file))
        except _UNLOADABLE as error:
            raise Damaged(f"{file.name} does not load ({_first_line(error)})") from None
        load_objective(tensors)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def restore(
    output: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, torch.nn.Module] | None = None,
    check: Callable[[dict[str, Any]], None] | None = None,
    warn: bool = True,
    load_objective: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest intact checkpoint of `output` into the models and optimizer; return its
    path and state, or None when the folder holds no checkpoint.

    Damaged checkpoints (see `damage`, and files that do not load) are passed over for older ones,
    with one warning line on stderr when `warn`; none intact is a one-line error. `check(state)`
    may raise a `UsageError` for a checkpoint of another run (recipe, processes): that stops the
    run, as falling back would not help. load_objective: see `load_checkpoint`.
    """
    skipped: list[tuple[Path, str]] = []
    for path in reversed(checkpoints(output)):
        problem = damage(path)
        if problem is None:
            state = read_state(path)
            if check is not None:
                check(state)
            try:
                load_checkpoint(path, model, optimizer, extra, load_objective)
            except Damaged as error:
                problem = str(error)
        if problem is not None:
            skipped.append((path, problem))
            continue
        if skipped and warn:
            names = ", ".join(p.name for p, _ in skipped)
            print(
                f"textebm: warning: checkpoint {names} is damaged ({skipped[0][1]}); "
                f"resuming from {path.name}",
                file=sys.stderr,
            )
        return path, state
    if skipped:
        newest, problem = skipped[0]
        raise UsageError(
            f"no intact checkpoint in {checkpoint_dir(output)} (newest, {newest.name}: "
            f"{problem}); pass --overwrite to start afresh"
        )
    return None


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
