"""For two-process tests: `torchrun ... sequencematch_script.py CONFIG.json [STOP_AFTER]`."""

from __future__ import annotations

import json
import sys

from textebm.recipes.sequencematch import train_sequencematch
from textebm.recipes.sequencematch_config import SequenceMatchConfig

if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        values = json.load(handle)
    stop_after = int(sys.argv[2]) if len(sys.argv) > 2 else None
    train_sequencematch(SequenceMatchConfig(**values), stop_after=stop_after)
