"""Fault injection for `textebm verify`: every bad flag is one line and exit 2, before any
enumeration starts, and nothing is written."""

from __future__ import annotations

import pytest

from tests.cli.faults import assert_one_line_error, run_main


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--chains", "0"], "--chains must be >= 1"),
        (["--sweeps", "3"], "--sweeps >= 4"),
        (["--top-k", "-1"], "--top-k must be >= 0"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
        (["--top-p", "nan"], "--top-p must be in (0, 1]"),
        (["--proposal-temperature", "0"], "--proposal-temperature must be positive"),
        (["--proposal-temperature", "nan"], "--proposal-temperature must be positive"),
        (["--chains", "many"], "--chains"),
        (["--seed", "1.5"], "--seed"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, monkeypatch, flags, needle, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        code, out, err = run_main(["verify", "--quick", *flags], capsys)
    except SystemExit as error:  # argparse's own errors
        captured = capsys.readouterr()
        code, out, err = int(error.code), captured.out, captured.err
    assert_one_line_error(code, err, needle)
    assert out == ""  # stopped before the table
    assert list(tmp_path.iterdir()) == []
