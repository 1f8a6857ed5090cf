"""Fault injection for `textebm demo`: a bad --output or bad numbers are one line and exit 2,
before anything is generated or trained, and leave what is on disk as it was."""

from __future__ import annotations

import os

import pytest

from tests.cli.faults import assert_one_line_error, run_main


def test_output_naming_a_file_is_refused_and_the_file_survives(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    code, _, err = run_main(["demo", "--output", str(target)], capsys)
    assert_one_line_error(code, err, str(target), "is a file")
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_output_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me\n")
    code, _, err = run_main(["demo", "--output", str(tmp_path / "notes.txt" / "demo")], capsys)
    assert_one_line_error(code, err, "cannot be created")
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_output_in_a_read_only_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code, _, err = run_main(["demo", "--output", str(locked / "demo")], capsys)
        assert_one_line_error(code, err, "cannot be created")
        code, _, err = run_main(["demo", "--output", str(locked)], capsys)
        assert_one_line_error(code, err, "not writable")
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--max-steps", "0"], "--max-steps must be positive"),
        (["--chains", "-1"], "--chains must be 0 or more"),
        (["--seed", "x"], "--seed"),
    ],
)
def test_bad_numbers_are_one_line_and_write_nothing(tmp_path, flags, needle, capsys):
    try:
        code, _, err = run_main(["demo", "--output", str(tmp_path / "demo"), *flags], capsys)
    except SystemExit as error:  # argparse's own errors
        code, err = int(error.code), capsys.readouterr().err
    assert_one_line_error(code, err, needle)
    assert list(tmp_path.iterdir()) == []
