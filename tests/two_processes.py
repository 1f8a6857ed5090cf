"""Two real processes, launched the documented way: torchrun, gloo on CPU.

Separate processes, not `accelerate.debug_launcher`: that forks the test process, and a fork
taken after torch's thread pool has run (any earlier test) can deadlock the child in OpenMP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    """A port free now, not a fixed one that another test (or a leftover run) may hold."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_two(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 --master-port PORT ARGS` on a free port, where ARGS is
    `-m textebm COMMAND ...` or a script and its arguments; output captured as text.

    Each process runs with CI set (no progress bars) and one thread, plus `env`. timeout: seconds
    after which a process left waiting for its peer fails the test instead of hanging it.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["--master-port", str(free_port()), *args]
    environment = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
