"""`textebm translate`: one line per input line, records, bad input, parts and resumed runs, the
beam path, and two processes under torchrun equal to the two one-process shards."""

# ruff: noqa: F811 (the shared fixtures, imported by name, are test arguments)
from __future__ import annotations

import json

import pytest

from tests.cli.translate_setup import (  # noqa: F401 (fixtures are used by name)
    COMMON,
    LINES,
    lines,
    short_dir,
    source,
    translate,
)
from tests.two_processes import torchrun_two
from textebm.cli.main import main
from textebm.models.seq2seq import load_seq2seq
from textebm.models.tiny import build_tiny_seq2seq
from textebm.samplers.beam import translate_beam

_translate, _lines = translate, lines
pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def test_one_line_per_input_line_and_records(short_dir, source, tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    out = tmp_path / "out.txt"
    assert _translate(short_dir, source, out, "--sampler", "mh", "--records", str(records)) == 0
    texts = _lines(out)
    rows = [json.loads(line) for line in _lines(records)]
    assert len(texts) == len(rows) == len(LINES)
    assert [r["line"] for r in rows] == list(range(len(LINES)))
    assert [r["text"] for r in rows] == texts and [r["source"] for r in rows] == LINES
    for row in rows:
        assert row["length"] == len(row["text"].split()) and row["passes"] > 0
        assert row["energy_per_token"] == pytest.approx(row["energy"] / row["length"])
    assert "6 lines" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("lines", "extra", "message"),
    [
        (["dogs", "", "cats"], [], "line 2 is empty"),
        (["dogs " * 70], [], "line 1: 72 tokens, more than the model's maximum of 64; pass "),
        (LINES, ["--sampler", "beam"], "--sampler beam decodes an encoder-decoder"),
        (LINES, ["--start-line", "6"], "--start-line 6 is past the input's 6 lines"),
        (LINES, ["--length-beam", "0"], "--length-beam must be >= 1"),
        (LINES, ["--shard", "2/2"], "--shard 2/2: need W >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2(short_dir, tmp_path, capsys, lines, extra, message):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.txt"
    assert _translate(short_dir, source, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_output_checks(short_dir, source, tmp_path, capsys):
    assert _translate(short_dir, source, source) == 2  # the output would replace the input
    assert main(["translate", "--model", str(short_dir), str(source), "--resume"]) == 2
    assert "--resume continues an output file" in capsys.readouterr().err
    assert _translate(tmp_path, source, tmp_path / "o.txt") == 2  # not a model folder


def test_truncate_cuts_long_lines(short_dir, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("dogs " * 70 + "\ncats\n")
    records = tmp_path / "r.jsonl"
    args = ["--sampler", "greedy", "--truncate", "--records", str(records)]
    assert _translate(short_dir, source, tmp_path / "o.txt", *args) == 0
    assert [json.loads(line)["truncated"] for line in _lines(records)] == [True, False]


def test_parts_and_an_interrupted_run_resumed_equal_one_run(
    short_dir, source, tmp_path, monkeypatch
):
    whole, records = tmp_path / "whole.txt", tmp_path / "whole.jsonl"
    assert _translate(short_dir, source, whole, "--records", str(records)) == 0
    parts = [tmp_path / "p0.txt", tmp_path / "p1.txt"]
    assert _translate(short_dir, source, parts[0], "--end-line", "4") == 0
    assert _translate(short_dir, source, parts[1], "--start-line", "4") == 0
    assert _lines(parts[0]) + _lines(parts[1]) == _lines(whole)

    # interrupt after the first batch: the output holds that batch's 2 lines, then resume
    from textebm.samplers import translate as module

    original, calls = module.CMLMTranslator.decode, []

    def interrupted(self, *args):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(module.CMLMTranslator, "decode", interrupted)
    out, out_records = tmp_path / "out.txt", tmp_path / "out.jsonl"
    assert _translate(short_dir, source, out, "--records", str(out_records)) == 130
    assert _lines(out) == _lines(whole)[:2] and len(_lines(out_records)) == 2
    monkeypatch.setattr(module.CMLMTranslator, "decode", original)
    assert _translate(short_dir, source, out, "--records", str(out_records), "--resume") == 0
    assert _lines(out) == _lines(whole)
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(_lines(out_records)) == strip(_lines(records))


def test_a_config_file_with_flags_over_it(short_dir, source, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"sampler": "gibbs", "length_beam": 2, "sweeps": 9}))
    records = tmp_path / "r.jsonl"
    args = ["--config", str(config), "--sweeps", "1", "--records", str(records)]
    assert _translate(short_dir, source, tmp_path / "o.txt", *args) == 0
    rows = [json.loads(line) for line in _lines(records)]
    assert all(len(r["candidates"]) == 2 and r["acceptance_rate"] == 1 for r in rows)
    config.write_text(json.dumps({"length_beam": "2"}))
    assert _translate(short_dir, source, tmp_path / "o.txt", "--config", str(config)) == 2


def test_the_beam_path(source, tmp_path):
    folder = build_tiny_seq2seq(tmp_path / "s2s", init_scale=5.0)
    out = tmp_path / "out.txt"
    args = ["translate", "--model", str(folder), "--sampler", "beam", "--beam", "3"]
    assert main([*args, "--device", "cpu", str(source), "-o", str(out)]) == 0
    model, tokenizer = load_seq2seq(str(folder), device="cpu")
    assert out.read_text() == "".join(
        t + "\n" for t in translate_beam(model, tokenizer, LINES, beam=3).texts
    )
    assert main([*args[:4], "mh", str(source), "-o", str(tmp_path / "x.txt")]) == 2


@pytest.mark.slow
def test_two_processes_write_the_two_shards_concatenated(short_dir, source, tmp_path):
    """6 lines on 2 processes (lines 0-2 and 3-5), bitwise what the two one-process --shard runs
    write, rank 0's first."""
    args = ["--model", str(short_dir), *COMMON, "--sampler", "mh", str(source)]
    two = tmp_path / "two.txt"
    result = torchrun_two("-m", "textebm", "translate", *args, "-o", str(two))
    assert result.returncode == 0, result.stderr[-2000:]
    shards = []
    for rank in range(2):
        out = tmp_path / f"s{rank}.txt"
        assert main(["translate", *args, "--shard", f"{rank}/2", "-o", str(out)]) == 0
        shards += _lines(out)
    assert _lines(two) == shards and len(shards) == len(LINES)
