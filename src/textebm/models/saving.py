"""Saving models without Transformers' own progress bar.

`save_pretrained` draws a "Writing model shards" bar on stderr, even for one shard and under `CI`.
The commands and the training loop report their progress themselves, so it is turned off while
they save (and restored afterwards, for a Python user who wants it elsewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def no_save_progress() -> Iterator[None]:
    """Transformers' progress bars off inside the block, back as they were after it."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()
