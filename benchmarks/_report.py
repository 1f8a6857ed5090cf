"""What a benchmark writes with `--results FILE`: a title, the command that made it, when and
with which torch on how many cores, then the report itself; atomically, so a failed run never
leaves a half-written file. `Transcript` keeps the lines a benchmark prints for that report.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from textebm.data.files import atomic_write


class Transcript:
    """`say(text)` prints a line at once (flushed: a long run shows its progress) and keeps it;
    `fenced()` is the lines kept so far as one markdown code block, a report's usual body."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)

    def fenced(self) -> str:
        return "\n".join(["```", *self.lines, "```"])


def write_report(path: Path, title: str, body: str) -> None:
    """Write `body` (markdown) under `title` and the exact command of this process."""
    command = shlex.join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    text = (
        f"# {title}\n\n```sh\n. .venv/bin/activate && {command}\n```\n\n"
        f"Recorded {datetime.now().astimezone().isoformat(timespec='seconds')} with torch "
        f"{version('torch')} on {os.cpu_count()} CPU cores.\n\n{body.rstrip()}\n"
    )
    with atomic_write(path) as handle:
        handle.write(text)
