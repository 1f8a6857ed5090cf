"""Fault injection for `textebm score`: every bad input or fault ends in one line and exit 2
(or quietly, for a reader that went away), and leaves the input and earlier outputs intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.cli.faults import assert_one_line_error, run_main, run_process, scratch_files


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("the cat sat .\na dog ran .\n")
    return path


def test_output_equal_to_input_is_refused_and_the_input_survives(wordlevel_dir, source, capsys):
    before = source.read_bytes()
    code, _, err = run_main(
        ["score", "--model", str(wordlevel_dir), str(source), "-o", str(source)], capsys
    )
    assert_one_line_error(code, err, "is the input")
    assert source.read_bytes() == before
    assert scratch_files(source.parent) == []


def test_output_naming_a_folder_is_refused_before_the_model_loads(tmp_path, source, capsys):
    # The model does not exist: if the output were checked after loading, the error would name it.
    args = ["score", "--model", str(tmp_path / "no-model"), str(source), "-o", str(tmp_path)]
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, "is a folder")
    code, _, err = run_main([*args[:-1], str(tmp_path / "missing" / "out.jsonl")], capsys)
    assert_one_line_error(code, err, "output folder does not exist")


@pytest.mark.parametrize("device", ["bogus", "cuda", "cuda:7"])
def test_a_device_this_machine_lacks_names_the_ones_it_has(wordlevel_dir, source, device, capsys):
    if device.startswith("cuda") and __import__("torch").cuda.device_count() > 7:
        pytest.skip("this machine has that device")
    code, _, err = run_main(
        ["score", "--model", str(wordlevel_dir), "--device", device, str(source)], capsys
    )
    assert_one_line_error(code, err, "--device", "devices here: cpu")


def test_a_folder_as_input_is_named_as_a_folder(wordlevel_dir, tmp_path, capsys):
    code, _, err = run_main(["score", "--model", str(wordlevel_dir), str(tmp_path)], capsys)
    assert_one_line_error(code, err, "is a folder")


def test_a_byte_order_mark_does_not_hide_the_first_word(wordlevel_dir, tmp_path, capsys):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_bytes(b"the cat sat .\n")
    marked.write_bytes(b"\xef\xbb\xbfthe cat sat .\n")
    _, from_plain, _ = run_main(["score", "--model", str(wordlevel_dir), str(plain)], capsys)
    _, from_marked, _ = run_main(["score", "--model", str(wordlevel_dir), str(marked)], capsys)
    assert json.loads(from_marked) == json.loads(from_plain)


def test_stale_scratch_of_a_killed_writer_is_removed_a_live_ones_kept(
    wordlevel_dir, source, capsys
):
    out = source.parent / "out.jsonl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = source.parent / f".out.jsonl.textebm-{dead.pid}-0a0b0c0d.tmp"
        busy = source.parent / f".out.jsonl.textebm-{live.pid}-0a0b0c0d.tmp"
        stale.write_text('{"text": "half a rec')
        busy.write_text("being written")
        code, _, err = run_main(
            ["score", "--model", str(wordlevel_dir), str(source), "-o", str(out)], capsys
        )
        assert code == 0, err
        assert not stale.exists() and busy.exists()
        assert len(out.read_text().splitlines()) == 2
    finally:
        live.kill()
        live.wait()


# `textebm score` in a subprocess that SIGKILLs itself at the last moment of its write: every
# record is in the scratch file, which is about to be flushed and renamed. Deterministic, unlike
# timing a kill from outside, which raced the write on a busy machine.
_KILLED_WHILE_WRITING = """
import os, signal, sys
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
from textebm.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_old_output_and_a_scratch_the_next_run_removes(
    wordlevel_dir, tmp_path
):
    source = tmp_path / "in.txt"
    source.write_text("the cat sat on the mat .\n" * 20)
    out = tmp_path / "out.jsonl"
    out.write_text("previous output\n")
    args = ["score", "--model", str(wordlevel_dir), str(source), "-o", str(out)]
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_WRITING, *args],
        env={**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL
    assert out.read_text() == "previous output\n"  # the old output is untouched by the kill
    (stale,) = scratch_files(tmp_path)  # the kill left the complete but unpublished records
    assert len((tmp_path / stale).read_text().splitlines()) == 20
    short = tmp_path / "short.txt"
    short.write_text("the cat sat .\n")
    result = run_process(f"textebm score --model {wordlevel_dir} {short} -o {out}")
    assert result.returncode == 0, result.stderr
    assert scratch_files(tmp_path) == []
    assert len(out.read_text().splitlines()) == 1


@pytest.mark.slow
def test_streams(wordlevel_dir, tmp_path):
    """A reader that goes away ends the run quietly; a closed stream is a one-line error."""
    source = tmp_path / "in.txt"
    source.write_text("the cat sat on the mat .\n" * 400)
    piped = run_process(
        f"set -o pipefail; textebm score --model {wordlevel_dir} {source} | head -c 10"
    )
    assert piped.stdout == '{"text": "' and piped.stderr == ""
    assert piped.returncode == 141
    closed_out = run_process(f"textebm score --model {wordlevel_dir} {source} >&-")
    assert_one_line_error(closed_out.returncode, closed_out.stderr, "standard output is closed")
    closed_in = run_process(f"textebm score --model {wordlevel_dir} - <&-")
    assert_one_line_error(closed_in.returncode, closed_in.stderr, "standard input is closed")


@pytest.mark.parametrize("temperature", ["1e-45", "inf", "nan", "0", "-1"])
def test_temperatures_with_non_finite_energies_are_refused(
    wordlevel_dir, source, temperature, capsys
):
    out = source.parent / "out.jsonl"
    out.write_text("previous output\n")
    args = ["score", "--model", str(wordlevel_dir), "--temperature", temperature, str(source)]
    code, _, err = run_main([*args, "-o", str(out)], capsys)
    assert_one_line_error(code, err, "temperature")
    if temperature == "1e-45":  # positive and finite, but every energy overflows: name the line
        assert "line 1: energy is not finite" in err
    assert out.read_text() == "previous output\n"


@pytest.mark.parametrize("energy", ["norm", "clm"])
def test_truncated_records_are_marked_with_the_text_scored(
    wordlevel_dir, clm_dir, tmp_path, energy, capsys
):
    words = ("the cat sat on the mat . " * 40).split()  # 280 words, over the 128-token maximum
    source = tmp_path / "in.txt"
    source.write_text(" ".join(words) + "\nthe cat sat .\n")
    model = clm_dir if energy == "clm" else wordlevel_dir
    code, out, err = run_main(
        ["score", "--model", str(model), "--energy", energy, "--truncate", str(source)], capsys
    )
    assert code == 0, err
    cut, whole = (json.loads(line) for line in out.splitlines())
    assert cut["truncated"] is True and cut["text"] == " ".join(words)
    assert cut["scored_text"].split() == words[: len(cut["scored_text"].split())]
    assert 100 < len(cut["scored_text"].split()) < len(words)
    assert "truncated" not in whole and "scored_text" not in whole


def test_unknown_words_get_one_summary_line(wordlevel_dir, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("the zebra sat .\nthe cat sat .\nzebra xylophone\n")
    code, out, err = run_main(["score", "--model", str(wordlevel_dir), str(source)], capsys)
    assert code == 0
    assert len(out.splitlines()) == 3
    assert err.strip() == (
        "textebm score: note: 2 of 3 lines hold tokens unknown to the tokenizer (3 [UNK] in all), "
        "scored as [UNK]"
    )
    source.write_text("the cat sat .\n")
    _, _, quiet = run_main(["score", "--model", str(wordlevel_dir), str(source)], capsys)
    assert quiet == ""
