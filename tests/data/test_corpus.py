"""Reading training corpora: documents, .gz, TSV columns, Hugging Face datasets."""

from __future__ import annotations

import gzip
import json

import pytest

from textebm.data.corpus import load_corpus, read_corpus, split_documents, tsv_column
from textebm.errors import UsageError


def test_blank_lines_separate_documents():
    lines = ["", "a b", "c", "  ", "", "d", ""]
    assert split_documents(lines) == [["a b", "c"], ["d"]]


def test_gzip_and_plain_read_alike(tmp_path):
    text = "one\ntwo\n\nthree\n"
    (tmp_path / "c.txt").write_text(text)
    with gzip.open(tmp_path / "c.txt.gz", "wt") as handle:
        handle.write(text)
    assert read_corpus(tmp_path / "c.txt") == read_corpus(tmp_path / "c.txt.gz")
    assert read_corpus(tmp_path / "c.txt") == [["one", "two"], ["three"]]


def test_tsv_column():
    lines = ["sentence\tlabel", "a b\t0", "", "c\t1"]
    assert tsv_column(lines, "sentence") == ["a b", "c"]
    with pytest.raises(UsageError, match="no column 'text'"):
        tsv_column(lines, "text")
    with pytest.raises(UsageError, match="line 2"):
        tsv_column(["x\ty", "only"], "y")


def test_exactly_one_source(tmp_path):
    with pytest.raises(UsageError, match="exactly one"):
        load_corpus(None, None)
    with pytest.raises(UsageError, match="not found"):
        load_corpus(str(tmp_path / "missing.txt"), None)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UsageError, match="holds no text"):
        load_corpus(str(tmp_path / "empty.txt"), None)


def test_local_dataset_folder(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ds"
    folder.mkdir()
    rows = [{"story": "first line\nsecond line\n\nnext document"}, {"story": "third"}]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    documents = load_corpus(None, str(folder), "train", "story")
    assert documents == [["first line", "second line"], ["next document"], ["third"]]
    with pytest.raises(UsageError, match="no column 'text'"):
        load_corpus(None, str(folder), "train", None)
