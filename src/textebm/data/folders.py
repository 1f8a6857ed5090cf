"""Writing a whole folder atomically: it appears complete under its name, or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from textebm.data.scratch import remove_stale_scratch, scratch_path


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path` that becomes `path` when the block succeeds.

    A rename within one file system is atomic, so a kill at any moment leaves either the old
    folder or the new one under `path`, never a half-written one. An existing `path` is moved
    aside first and deleted only once the new folder is in place. On an exception the temporary
    folder is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(path)
    tmp = scratch_path(path)
    tmp.mkdir(mode=0o777)  # umask applies, as for any folder the user makes
    try:
        yield tmp
        _fsync_tree(tmp)
        old = None
        if path.exists():
            old = scratch_path(path, "old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(folder: Path) -> None:
    """Flush every file under `folder` to disk, so the rename never publishes unwritten data."""
    for file in folder.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
