"""Reading text (plain, `.gz`, or standard input) and writing outputs atomically."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from textebm.errors import UsageError


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        return sys.stdin.buffer
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"input file not found: {path}")
    # Sniff the gzip magic rather than trust the suffix: `.gz` is read transparently either way.
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if is_gzip else path.open("rb")


def read_lines(path: str | Path) -> list[str]:
    """All lines of a UTF-8 text file (`.gz` transparently, `-` for stdin), line ends stripped.

    A byte-order mark at the start of the file is dropped.

    Raises UsageError naming the 1-based line number of the first line that is not valid UTF-8.
    """
    lines = []
    stream = _open_binary(path)
    try:
        for number, raw in enumerate(stream, start=1):
            try:
                # utf-8-sig on the first line only: a byte-order mark (Windows editors write one)
                # is not part of the text, or the first word would be silently unknown.
                codec = "utf-8-sig" if number == 1 else "utf-8"
                lines.append(raw.decode(codec).rstrip("\r\n"))
            except UnicodeDecodeError as error:
                raise UsageError(
                    f"{path}: line {number} is not valid UTF-8 (byte {error.start + 1})"
                ) from None
    except (OSError, EOFError) as error:  # e.g. a truncated or corrupt .gz file
        raise UsageError(f"cannot read {path}: {error}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return lines


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open `path` for writing so that it appears complete or not at all.

    Writes go to a temporary file in the same folder, which replaces `path` only when the block
    exits without an exception; on any error the temporary file is removed and `path` is untouched.
    `path` "-" writes to standard output instead.
    """
    if str(path) == "-":
        yield sys.stdout if "b" not in mode else sys.stdout.buffer
        sys.stdout.flush()
        return
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise UsageError(f"output folder does not exist: {path.parent}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with open(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, data: object, indent: int = 2) -> None:
    """Write `data` as indented JSON with a final newline, atomically (see `atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(json.dumps(data, indent=indent) + "\n")
