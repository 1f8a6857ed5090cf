"""Reading text (plain, `.gz`, or standard input) and writing outputs atomically; logs appended
batch by batch (`append_synced`), of which an interrupted writer leaves whole lines and at most
one torn last line (`whole_lines` drops it, `cut_back` removes it before the next append)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from textebm.data.scratch import remove_stale_scratch, scratch_path
from textebm.errors import UsageError


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        if sys.stdin is None or sys.stdin.closed:
            raise UsageError("standard input is closed: give an input file instead of -")
        return sys.stdin.buffer
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"input {path} is a folder; give a file")
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


def read_sentences(path: str | Path) -> list[str]:
    """`read_lines` of a file of one sentence a line: a blank line is an error naming its
    number (it is no sentence), and so is a file without a line."""
    lines = read_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UsageError(f"{path}: line {number} is empty; give one sentence per line")
    if not lines:
        raise UsageError(f"{path}: no sentences to score")
    return lines


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open `path` for writing so that it appears complete or not at all.

    Writes go to a temporary file in the same folder, which replaces `path` only when the block
    exits without an exception; on any error the temporary file is removed and `path` is untouched.
    `path` "-" writes to standard output instead.
    """
    if str(path) == "-":
        if sys.stdout is None or sys.stdout.closed:
            raise UsageError("standard output is closed: give an output file with -o")
        yield sys.stdout if "b" not in mode else sys.stdout.buffer
        sys.stdout.flush()
        return
    path = Path(path)
    check_output(path)
    remove_stale_scratch(path)
    tmp = scratch_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as in open()
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


def append_synced(path: str | Path, data: bytes) -> None:
    """Append `data` to `path` (created if missing) and have it on disk (flush and fsync) before
    returning: after a kill the file holds every earlier call's bytes, then at most a prefix of
    this call's. Append whole lines, so that a prefix is whole lines and one torn line."""
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def whole_lines(path: str | Path) -> tuple[list[bytes], list[int]]:
    """The lines of `path` that end in a newline (without it; a torn last line dropped) and
    where each one ends: ends[i] is the byte length of lines 0..i with their newlines. A file
    that does not exist has none."""
    try:
        lines = Path(path).read_bytes().split(b"\n")[:-1]
    except FileNotFoundError:
        return [], []
    ends, end = [], 0
    for line in lines:
        end += len(line) + 1
        ends.append(end)
    return lines, ends


def cut_back(path: str | Path, size: int) -> None:
    """Truncate `path` to its first `size` bytes (before appending after what was kept)."""
    with open(path, "r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: str | Path, data: object, indent: int = 2) -> None:
    """Write `data` as indented JSON with a final newline, atomically (see `atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(json.dumps(data, indent=indent) + "\n")


def check_output(path: str | Path, inputs: tuple[str | Path, ...] = ()) -> None:
    """Refuse an output path that cannot be written, before any work is done.

    Its folder must exist and be writable, the path must not be a folder, and it must not be one
    of `inputs` (writing there would replace the input with the output). "-" (stdout) is fine.
    """
    if str(path) == "-":
        return
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"output {path} is a folder; give a file name")
    if not folder.is_dir():
        raise UsageError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"output folder is not writable: {folder}")
    for source in inputs:
        same = str(source) != "-" and path.exists() and Path(source).exists()
        if same and os.path.samefile(path, source):
            raise UsageError(f"output {path} is the input {source}: it would be overwritten")
