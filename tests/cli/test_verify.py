"""`textebm verify` prints the exactness table and exits 0 when every row is as expected.

The sampled rows' numbers are checked in tests/eval/test_exact.py; here the sampled part is left
out (`sample_targets=()`) to keep the command's own test fast.
"""

from __future__ import annotations

import pytest

import textebm.eval.verify as verify_module
from textebm.cli.main import main


@pytest.fixture
def exact_only(monkeypatch):
    real = verify_module.verify

    def verify(config=None, progress=False):
        from dataclasses import replace

        return real(replace(config, sample_targets=()), progress)

    monkeypatch.setattr(verify_module, "verify", verify)


def test_quick_table(capsys, monkeypatch, exact_only):
    monkeypatch.setenv("CI", "1")
    code = main(["verify", "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "15 of 15 checks as expected." in out
    lines = out.splitlines()
    assert lines[0].split() == [
        "check",
        "energy",
        "tau",
        "sampler",
        "states",
        "samples",
        "ESS(E)",
        "TV",
        "expected",
        "ok",
    ]
    assert sum("degenerate Gibbs" in line for line in lines) == 3
    assert all(line.rstrip().endswith("yes") for line in lines[2:17])


def test_failures_exit_1(capsys, monkeypatch):
    row = verify_module.Row(
        "exact", "norm", 1.0, "MH single-site, random scan", 64, None, None, 0.5, False
    )
    monkeypatch.setattr(verify_module, "verify", lambda config=None, progress=False: [row])
    assert main(["verify"]) == 1
    assert "0 of 1 checks as expected." in capsys.readouterr().out


def test_bad_arguments(capsys):
    assert main(["verify", "--sweeps", "2"]) == 2
    assert "--sweeps >= 4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "--chains", "many"])
