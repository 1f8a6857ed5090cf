"""Distilling a source file: line-aligned output, atomic, resumable by chunk, refusing to mix
jobs."""

from __future__ import annotations

import gzip

import pytest

from textebm.errors import UsageError
from textebm.models.seq2seq import load_seq2seq
from textebm.models.tiny import build_tiny_seq2seq
from textebm.samplers.beam import translate_beam
from textebm.samplers.distill import BeamSettings, distill_file

LINES = [
    "the cat sat on the mat .",
    "dogs",
    "",
    "she reads a book today",
    "the quick bird sang .",
    "we saw them near the river",
    "a man ran",
]
SETTINGS = BeamSettings(beam=2, max_length_extra=3)


@pytest.fixture(scope="module")
def seq2seq(tmp_path_factory):
    folder = build_tiny_seq2seq(tmp_path_factory.mktemp("seq2seq"), init_scale=5.0)
    return load_seq2seq(str(folder), device="cpu")


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "train.de.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(LINES) + "\n")
    return path


def test_whole_file_is_line_aligned_and_equals_translate_beam(seq2seq, source, tmp_path):
    model, tokenizer = seq2seq
    output = tmp_path / "distilled.en"
    report = distill_file(model, tokenizer, source, output, SETTINGS, chunk_lines=3, progress=False)
    lines = output.read_text().split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(LINES)
    expected = translate_beam(model, tokenizer, LINES, beam=2, max_length_extra=3).texts
    assert lines[:-1] == expected and lines[2] == ""
    assert report.translated == len(LINES) and report.resumed == 0 and report.passes > 0
    assert report.sentences_per_second > 0
    assert [p.name for p in tmp_path.iterdir() if "distilled" in p.name] == ["distilled.en"]


def test_interrupted_run_resumes_to_the_same_file(seq2seq, source, tmp_path):
    model, tokenizer = seq2seq
    straight = tmp_path / "straight.en"
    distill_file(model, tokenizer, source, straight, SETTINGS, chunk_lines=2, progress=False)
    output = tmp_path / "resumed.en"
    first = distill_file(
        model, tokenizer, source, output, SETTINGS, chunk_lines=2, stop_after=3, progress=False
    )
    assert first.translated == 4 and not output.exists()  # two whole chunks, then "killed"
    partial = tmp_path / "resumed.en.partial"
    assert len(partial.read_text().splitlines()) == 4
    with partial.open("a", encoding="utf-8") as handle:  # a kill in the middle of a write
        handle.write("half a line of the third chu")
    second = distill_file(model, tokenizer, source, output, SETTINGS, chunk_lines=2, progress=False)
    assert second.resumed == 4 and second.translated == len(LINES) - 4
    assert output.read_bytes() == straight.read_bytes()
    assert not partial.exists() and not (tmp_path / "resumed.en.partial.json").exists()


def test_a_partial_file_of_another_job_is_refused(seq2seq, source, tmp_path):
    model, tokenizer = seq2seq
    output = tmp_path / "out.en"
    distill_file(
        model, tokenizer, source, output, SETTINGS, chunk_lines=2, stop_after=1, progress=False
    )
    other = BeamSettings(beam=3, max_length_extra=3)
    with pytest.raises(UsageError, match="another source, model or settings"):
        distill_file(model, tokenizer, source, output, other, chunk_lines=2, progress=False)


def test_bad_paths_are_usage_errors(seq2seq, source, tmp_path):
    model, tokenizer = seq2seq
    with pytest.raises(UsageError, match="input file not found"):
        distill_file(model, tokenizer, tmp_path / "missing", tmp_path / "o", progress=False)
    with pytest.raises(UsageError, match="would be overwritten"):
        distill_file(model, tokenizer, source, source, progress=False)
    with pytest.raises(UsageError, match="output folder does not exist"):
        distill_file(model, tokenizer, source, tmp_path / "no" / "o", progress=False)
    (tmp_path / "empty").write_text("")
    with pytest.raises(UsageError, match="no lines"):
        distill_file(model, tokenizer, tmp_path / "empty", tmp_path / "o", progress=False)
