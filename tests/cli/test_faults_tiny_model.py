"""Fault injection for `textebm tiny-model`: never replaces a folder's contents unasked."""

from __future__ import annotations

from tests.cli.faults import assert_one_line_error, run_main


def test_a_non_empty_folder_is_refused_unless_overwrite(tmp_path, capsys):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"trained weights")
    code, _, err = run_main(["tiny-model", str(folder)], capsys)
    assert_one_line_error(code, err, "not empty", "--overwrite")
    assert (folder / "model.safetensors").read_bytes() == b"trained weights"
    code, _, err = run_main(["tiny-model", str(folder), "--overwrite"], capsys)
    assert code == 0, err
    assert (folder / "config.json").exists()


def test_no_progress_bar_while_saving(tmp_path, capsys):
    from transformers.utils import logging

    logging.enable_progress_bar()  # as a fresh process has it: another test may have quieted it
    code, _, err = run_main(["tiny-model", str(tmp_path / "model")], capsys)
    assert (code, err) == (0, "")
