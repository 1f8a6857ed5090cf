"""Temporary files and folders beside an output, named so a later run can clean up after a kill.

Atomic writes go to a hidden scratch file beside the target and rename it into place. SIGKILL
(or a power cut) between the two leaves the scratch file behind, and a name like mkstemp's gives
a later run no way to tell an abandoned one from one a live process is still writing. So the
name carries the writer's process id: `.NAME.textebm-PID-RANDOM.tmp`. Before writing NAME again,
scratch files of NAME whose process is gone are removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

_MARK = "textebm"


def scratch_path(target: Path, kind: str = "tmp") -> Path:
    """A fresh scratch path beside `target` owned by this process (`kind` is `tmp` or `old`)."""
    return target.with_name(f".{target.name}.{_MARK}-{os.getpid()}-{secrets.token_hex(4)}.{kind}")


def _owner(candidate: Path, target: Path) -> int | None:
    """The process id in a scratch name of `target`, or None if it is not one of ours."""
    prefix = f".{target.name}.{_MARK}-"
    name = candidate.name
    if not name.startswith(prefix) or not name.endswith((".tmp", ".old")):
        return None
    pid, _, _ = name[len(prefix) : -len(".tmp")].partition("-")
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch files and folders of `target` left by processes that no longer run.

    Returns what was removed. A live writer's scratch (another run writing the same target right
    now) is left alone.
    """
    removed = []
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return removed
    for candidate in parent.glob(f".{target.name}.{_MARK}-*"):
        pid = _owner(candidate, target)
        if pid is None or _alive(pid):
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed
