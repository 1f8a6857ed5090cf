"""Fault injection for `textebm sample`: output paths checked before any work, no stray files,
one line and exit 2 for bad input, a note for unknown words in --init."""

from __future__ import annotations

import pytest

from tests.cli.faults import assert_one_line_error, run_main

QUICK = ["--length", "4", "--chains", "2", "--sweeps", "2", "--burn-in", "0", "--thin", "1"]


pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def test_standard_output_is_refused_and_nothing_is_written(
    wordlevel_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["sample", "--model", str(wordlevel_dir), *QUICK, "-o", "-"], capsys)
    assert_one_line_error(code, err, "give -o a file name")
    assert list(tmp_path.iterdir()) == []  # no ./-.diagnostics.json, no ./-.trace.png


@pytest.mark.parametrize("blocked", ["out.jsonl", "out.diagnostics.json", "out.trace.png"])
def test_any_output_naming_a_folder_is_refused_before_the_model_loads(tmp_path, blocked, capsys):
    (tmp_path / blocked).mkdir()
    missing_model = str(tmp_path / "no-model")  # loading it would fail with another message
    args = ["sample", "--model", missing_model, *QUICK, "-o", str(tmp_path / "out.jsonl")]
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, "is a folder")


def test_a_missing_output_folder_is_refused_before_the_model_loads(tmp_path, capsys):
    args = ["sample", "--model", str(tmp_path / "no-model"), *QUICK]
    code, _, err = run_main([*args, "-o", str(tmp_path / "nowhere" / "out.jsonl")], capsys)
    assert_one_line_error(code, err, "output folder does not exist")


def test_unknown_words_in_init_get_a_note(wordlevel_dir, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    args = [
        "sample",
        "--model",
        str(wordlevel_dir),
        "--chains",
        "2",
        "--sweeps",
        "2",
        "--thin",
        "1",
    ]
    code, _, err = run_main(
        [*args, "--burn-in", "0", "--init", "the zzqx sat .", "-o", str(out)], capsys
    )
    assert code == 0, err
    assert err.strip() == (
        "textebm sample: note: --init holds 1 token(s) unknown to the tokenizer ([UNK]); "
        "a free one starts as [MASK], a fixed one stays [UNK]"
    )
    code, _, err = run_main(
        [*args, "--burn-in", "0", "--init", "the cat sat .", "-o", str(out)], capsys
    )
    assert code == 0 and err == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--chains", "0"], "chains"),
        (["--temperature", "-1"], "temperature"),
        (["--sampler", "bogus"], "sampler"),
        (["--device", "bogus"], "devices here"),
    ],
)
def test_bad_settings_are_one_line(wordlevel_dir, tmp_path, extra, message, capsys):
    args = [
        "sample",
        "--model",
        str(wordlevel_dir),
        *QUICK,
        *extra,
        "-o",
        str(tmp_path / "o.jsonl"),
    ]
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, message)
    assert list(tmp_path.iterdir()) == []
