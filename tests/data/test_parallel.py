"""Line-aligned parallel files: pairs in order, misalignment is an error."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from textebm.data.parallel import ParallelPair, read_parallel
from textebm.errors import UsageError


def test_pairs_in_order_gz_transparently_blank_on_both_sides_skipped(tmp_path):
    source, target = tmp_path / "train.en", tmp_path / "train.de.gz"
    source.write_text("a dog runs .\n\na cat sleeps .\n", encoding="utf-8")
    target.write_bytes(gzip.compress("ein hund rennt .\n\neine katze schläft .\n".encode()))
    assert read_parallel(source, target) == [
        ParallelPair("a dog runs .", "ein hund rennt ."),
        ParallelPair("a cat sleeps .", "eine katze schläft ."),
    ]


MULTI30K = Path(__file__).resolve().parents[2] / "../shared/data/multi30k/raw"


@pytest.mark.skipif(not (MULTI30K / "val.en.gz").exists(), reason="no ../shared/data beside repo")
def test_real_multi30k_is_aligned():
    pairs = read_parallel(MULTI30K / "val.en.gz", MULTI30K / "val.de.gz")
    assert len(pairs) == 1014


@pytest.mark.parametrize(
    ("source_text", "target_text", "message"),
    [
        ("a\nb\n", "x\n", "a.txt has 2 lines, .*b.txt has 1"),
        ("a\n\nc\n", "x\ny\nz\n", "line 2 is blank in .*a.txt but not in"),
        ("\n", "\n", "hold no text"),
    ],
)
def test_misaligned_files_stop_with_one_line(tmp_path, source_text, target_text, message):
    source, target = tmp_path / "a.txt", tmp_path / "b.txt"
    source.write_text(source_text)
    target.write_text(target_text)
    with pytest.raises(UsageError, match=message):
        read_parallel(source, target)
