"""`textebm translate ARGS` under torchrun, every process killed (SIGKILL, nothing cleaned up)
when it starts batch KILL_AFTER + 1 of its shard, once all of them have finished KILL_AFTER
batches: the state a run killed mid-way leaves, the same on every try.

    torchrun --nproc-per-node 2 tests/cli/translate_killed.py translate ... (env KILL_AFTER=1)
"""

from __future__ import annotations

import os
import signal
import sys

import torch.distributed as dist

from textebm.cli.main import main
from textebm.samplers import translate as translate_module


def _install(batches: int) -> None:
    original, calls = translate_module.CMLMTranslator.decode, []

    def decode(self, *args):
        if len(calls) == batches:
            dist.barrier()  # every process has saved its batches: the kill finds them all
            os.kill(os.getpid(), signal.SIGKILL)
        calls.append(1)
        return original(self, *args)

    translate_module.CMLMTranslator.decode = decode


if __name__ == "__main__":
    _install(int(os.environ["KILL_AFTER"]))
    sys.exit(main(sys.argv[1:]))
