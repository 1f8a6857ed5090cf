"""`textebm verify` prints the exactness table and exits 0 when every row is as expected."""

from __future__ import annotations

import pytest

from textebm.cli.main import main


@pytest.mark.slow
def test_quick_table(capsys, monkeypatch):
    monkeypatch.setenv("CI", "1")
    code = main(["verify", "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "18 of 18 checks as expected." in out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["check", "energy", "tau", "sampler"]
    assert sum("degenerate Gibbs" in line for line in lines) == 4
    assert all(line.rstrip().endswith("yes") for line in lines[2:20])


def test_bad_arguments(capsys):
    assert main(["verify", "--sweeps", "2"]) == 2
    assert "--sweeps >= 4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "--chains", "many"])
