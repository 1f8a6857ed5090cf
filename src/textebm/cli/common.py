"""Pieces shared by commands: quieting libraries, progress-bar policy, reading sentence files."""

from __future__ import annotations

import os

from textebm.data.files import read_lines
from textebm.errors import UsageError


def quiet_libraries() -> None:
    """Silence Hugging Face's own progress bars and warnings: the command reports for itself."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def show_progress(n_items: int, threshold: int = 64, main_process: bool = True) -> bool:
    """Progress bars for long inputs only, on the main process, and never when CI is set."""
    return main_process and n_items >= threshold and not os.environ.get("CI")


def read_sentences(path: str) -> list[str]:
    """Lines of a sentence file; an empty or blank line is an error naming its number."""
    lines = read_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UsageError(f"{path}: line {number} is empty; give one sentence per line")
    if not lines:
        raise UsageError(f"{path}: no sentences to score")
    return lines
