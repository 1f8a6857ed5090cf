"""The run folder (`--output`): its checks against the run it may hold, and `metrics.jsonl`.

A folder holds one run: its resolved configuration (`train_config.json`), whose fingerprint (the
fields that decide the trajectory, see `TrainConfig.fingerprint`) must match for a run to resume
there; its checkpoints; its metrics; and, once finished, the final model(s).

While a run trains, its main process holds a lock on `LOCK` in the folder, so that a second run on
the same folder stops instead of interleaving its metrics and checkpoints with the first's. It is
an OS-level lock (flock, through `filelock`): the kernel drops it when the process dies, even by
SIGKILL, so a killed run never leaves a stale lock behind; the empty file itself may stay.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from textebm.errors import UsageError
from textebm.recipes import checkpoint
from textebm.recipes.config import TrainConfig, save_config

LOCK = ".textebm-train.lock"


class MetricsLog:
    """`metrics.jsonl`: one JSON object per line, flushed as written (main process only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def truncate(self, step: int) -> None:
        """Keep only records up to `step`: those after the checkpoint resumed from are redone."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a kill
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line + "\n")
        from textebm.data.files import atomic_write

        with atomic_write(self.path) as handle:
            handle.writelines(kept)

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def lock_output(output: Path) -> FileLock:
    """Create `output` if needed and lock it for this run; a one-line error if a run holds it."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--output {output} cannot be created ({error.strerror})") from None
    lock = FileLock(output / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(
            f"another textebm train run is using {output}; wait for it to end or choose "
            "another --output"
        ) from None
    except OSError as error:
        raise UsageError(f"--output {output} cannot be locked ({error.strerror})") from None
    return lock


def prepare_output(config: TrainConfig) -> FileLock:
    """Lock `--output`, check it against the run it may hold, then write its configuration there;
    start afresh only with `--overwrite`. Only the main process calls it (see
    `prepare_everywhere`). Returns the held lock; the caller releases it when the run ends."""
    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file, not a folder")
    # Locked before the checks: two runs checking at once could otherwise both pass them.
    lock = lock_output(output)
    try:
        _check_and_claim(config, output)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_and_claim(config: TrainConfig, output: Path) -> None:
    saved_path = output / "train_config.json"
    if saved_path.exists() and not config.overwrite:
        try:
            saved = json.loads(saved_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            saved = {}
        free = {
            f.name for f in dataclasses.fields(config) if not f.metadata.get("fingerprint", True)
        }
        new = config.fingerprint()
        # A field added since the run was saved counts as its default there.
        defaults = {
            f.name: f.metadata.get("absent", f.default)
            for f in dataclasses.fields(config)
            if f.name not in saved
        }
        old = {k: v for k, v in {**defaults, **saved}.items() if k not in free and k in new}
        changed = sorted(k for k in set(old) | set(new) if old.get(k, "-") != new.get(k, "-"))
        if changed:
            detail = ", ".join(
                f"{k}: {old.get(k, '-')!r} -> {new.get(k, '-')!r}" for k in changed[:3]
            )
            if len(changed) > 3:
                detail += f" and {len(changed) - 3} more"
            raise UsageError(
                f"{output} holds a run with another configuration ({detail}); "
                "pass --overwrite to start afresh, or choose another --output"
            )
    elif (
        output.is_dir()
        and any(p.name != LOCK for p in output.iterdir())
        and not saved_path.exists()
        and not config.overwrite
    ):
        raise UsageError(
            f"{output} is not empty and holds no training run; choose an empty "
            "folder or pass --overwrite"
        )
    if config.overwrite:
        shutil.rmtree(checkpoint.checkpoint_dir(output), ignore_errors=True)
        (output / "metrics.jsonl").unlink(missing_ok=True)
        (output / "sessions.jsonl").unlink(missing_ok=True)
    checkpoint.remove_partial(output)
    save_config(config, saved_path)


def prepare_everywhere(config: TrainConfig, accelerator) -> contextlib.ExitStack:
    """`prepare_output` on the main process; every process then stops with its error, if any.

    Only the main process checks the folder: another one checking it while the main one writes it
    could see it half-written and stop alone, stranding the main one at the next barrier. Returns
    a context manager whose exit releases the main process's lock (a no-op on the others).
    """
    verdict: list[str | None] = [None]
    held = contextlib.ExitStack()
    if accelerator.is_main_process:
        try:
            held.callback(prepare_output(config).release)
        except UsageError as error:
            verdict = [str(error)]
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(verdict, from_process=0)
    if verdict[0] is not None:
        held.close()
        raise UsageError(verdict[0])
    return held
