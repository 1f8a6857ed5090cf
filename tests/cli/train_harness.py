"""Run `textebm ARGS` with a fault injected at an exact point, in a real child process.

    python train_harness.py ACTION STEP [FLAG_FILE] -- textebm arguments...

ACTION:
  kill-after-record  SIGKILL this process right after metrics.jsonl gets the train record of STEP.
  interrupt-after-record  SIGINT (Ctrl-C) to this process at the same point.
  kill-in-checkpoint SIGKILL this process half-way through writing optimizer.pt of checkpoint STEP.
  pause-after-record after the train record of STEP, create FLAG_FILE + ".ready" and wait until
                     FLAG_FILE + ".go" exists, then carry on (to hold the run's lock meanwhile).

Kills at exact points make the fault tests deterministic: a kill sent from outside at a random
moment would test something different on every run.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from pathlib import Path

import torch

from textebm.cli.main import main
from textebm.recipes import run_folder


def _after_record(step: int, then) -> None:
    write = run_folder.MetricsLog.write

    def patched(self, record):
        write(self, record)
        if record.get("split") == "train" and record.get("step") == step:
            then()

    run_folder.MetricsLog.write = patched


def _kill_in_checkpoint(step: int) -> None:
    save = torch.save

    def patched(obj, target, *args, **kwargs):
        target_path = Path(target) if isinstance(target, str | os.PathLike) else None
        if (
            target_path
            and target_path.name == "optimizer.pt"
            and f"step-{step:08d}" in str(target_path.parent)
        ):
            buffer = io.BytesIO()
            save(obj, buffer)
            target_path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return save(obj, target, *args, **kwargs)

    torch.save = patched


def _pause(flag: str) -> None:
    Path(flag + ".ready").touch()
    deadline = time.time() + 300
    while not Path(flag + ".go").exists() and time.time() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    split = sys.argv.index("--")
    action, step, *rest = sys.argv[1:split]
    step_number = int(step)
    if action == "kill-after-record":
        _after_record(step_number, lambda: os.kill(os.getpid(), signal.SIGKILL))
    elif action == "interrupt-after-record":
        # Python keeps SIGINT ignored when it starts so (a shell's background job, e.g. a CI run
        # started with `&`): restore Ctrl-C's usual handler, as in an interactive run.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _after_record(step_number, lambda: os.kill(os.getpid(), signal.SIGINT))
    elif action == "kill-in-checkpoint":
        _kill_in_checkpoint(step_number)
    elif action == "pause-after-record":
        _after_record(step_number, lambda: _pause(rest[0]))
    else:
        raise SystemExit(f"unknown action {action}")
    raise SystemExit(main(sys.argv[split + 1 :]))
