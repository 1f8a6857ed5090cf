"""The command line's parser builds without torch, so `textebm --help` answers at once."""

from __future__ import annotations

import subprocess
import sys


def test_every_parser_builds_without_importing_torch():
    code = (
        "import sys; from textebm.cli.main import build_parser; build_parser(); "
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules); "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
