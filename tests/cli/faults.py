"""Helpers of the fault-injection tests: run a command, assert a clean one-line failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textebm.cli.main import main


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """`textebm ARGS` in this process: (exit code, stdout, stderr); argparse's own errors exit."""
    try:
        code = main(args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(shell_command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`textebm` in a subprocess through bash, for what needs real file descriptors (pipes,
    closed streams, kills). `textebm` in the command is replaced by this interpreter's module."""
    command = shell_command.replace("textebm ", f"{sys.executable} -m textebm ", 1)
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=timeout, env=env
    )


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit code 2 and one line on stderr, no traceback, naming each of `needles`."""
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def scratch_files(folder: Path) -> list[str]:
    """Hidden scratch files and folders an atomic write might have left in `folder`."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))
