"""Reading text files (.gz, UTF-8 errors) and atomic writes."""

from __future__ import annotations

import gzip

import pytest

from textebm.data.files import (
    append_synced,
    atomic_write,
    cut_back,
    read_lines,
    read_sentences,
    whole_lines,
)
from textebm.errors import UsageError


def test_read_lines_plain_and_gzip_alike(tmp_path):
    plain = tmp_path / "a.txt"
    plain.write_bytes(b"one\r\ntwo\nthree")
    zipped = tmp_path / "a.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_lines(plain) == read_lines(zipped) == ["one", "two", "three"]


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xc3\x28 here\n")
    with pytest.raises(UsageError, match="line 3 is not valid UTF-8"):
        read_lines(path)


@pytest.mark.parametrize(
    ("text", "error"),
    [("one\n \nthree\n", "line 2 is empty"), ("", "no sentences"), ("\n", "line 1 is empty")],
)
def test_read_sentences_refuses_blank_lines_and_empty_files(tmp_path, text, error):
    path = tmp_path / "s.txt"
    path.write_text("one\ntwo\n")
    assert read_sentences(path) == ["one", "two"]
    path.write_text(text)
    with pytest.raises(UsageError, match=error):
        read_sentences(path)


def test_corrupt_gzip_is_a_usage_error(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"hello\n" * 100)[:30])
    with pytest.raises(UsageError, match="cannot read"):
        read_lines(path)


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_atomic_write_into_a_missing_folder(tmp_path):
    with (
        pytest.raises(UsageError, match="output folder does not exist"),
        atomic_write(tmp_path / "nope" / "out.txt"),
    ):
        pass


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    target = tmp_path / "out.txt"
    with atomic_write(target) as handle:
        handle.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    """Windows editors start UTF-8 files with EF BB BF; kept, it would glue onto the first word."""
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfthe cat sat .\n\xef\xbb\xbfa second line keeps its bytes\n")
    zipped = tmp_path / "bom.txt.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    for source in (path, zipped):
        lines = read_lines(source)
        assert lines[0] == "the cat sat ."
        assert lines[1].startswith("\ufeff")  # only a leading mark is a byte-order mark


def test_an_appended_log_keeps_whole_lines_and_cuts_a_torn_one(tmp_path):
    log = tmp_path / "log.txt"
    assert whole_lines(log) == ([], [])  # none yet
    append_synced(log, "a\nbé\n".encode())
    append_synced(log, b"c\nto")  # a kill in the middle of the second append
    lines, ends = whole_lines(log)
    assert lines == [b"a", "bé".encode(), b"c"] and ends == [2, 6, 8]
    cut_back(log, ends[1])
    append_synced(log, b"d\n")
    assert log.read_bytes() == "a\nbé\nd\n".encode()
