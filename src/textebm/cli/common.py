"""Pieces shared by commands: quieting libraries, progress-bar policy."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Silence Hugging Face's own progress bars and warnings: the command reports for itself."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def show_progress(n_items: int, threshold: int = 64, main_process: bool = True) -> bool:
    """Progress bars for long inputs only, on the main process, and never when CI is set."""
    return main_process and n_items >= threshold and not os.environ.get("CI")
