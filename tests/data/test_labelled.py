"""Labelled TSV: columns by header, sentence pairs, label names, and one-line errors."""

from __future__ import annotations

import gzip

import pytest

from textebm.data.labelled import (
    LabelledExample,
    count_labels,
    parse_label_names,
    read_labelled,
)
from textebm.errors import UsageError


def write(path, text: str, bom: bool = False):
    data = text.encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def test_glue_single_sentences_in_file_order_gz_and_bom_alike(tmp_path):
    text = "sentence\tlabel\na fine film .\t1\n\nawful .\t0\n"
    plain = write(tmp_path / "train.tsv", text, bom=True)
    zipped = tmp_path / "train.tsv.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    expected = [LabelledExample("a fine film .", 1), LabelledExample("awful .", 0)]
    assert read_labelled(plain) == read_labelled(zipped) == expected
    assert count_labels(expected, None) == 2


def test_sentence_pairs_and_other_column_names(tmp_path):
    path = write(
        tmp_path / "mnli.tsv",
        "id\tpremise\thypothesis\tgold\n7\tit rains .\tit is wet .\tentailment\n"
        "8\tit rains .\tit is dry .\tcontradiction\n",
    )
    names = parse_label_names("entailment,neutral,contradiction")
    examples = read_labelled(path, "premise", "gold", "hypothesis", label_names=names)
    assert examples == [
        LabelledExample("it rains .", 0, "it is wet ."),
        LabelledExample("it rains .", 2, "it is dry ."),
    ]
    assert count_labels(examples, names) == 3


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("text\tlabel\na\t0\n", {}, r"no column 'sentence' \(--text-column\)"),
        ("sentence\ty\na\t0\n", {}, r"no column 'label' \(--label-column\)"),
        ("sentence\tlabel\na\t0\n", {"text_pair_column": "b"}, "--text-pair-column"),
        ("sentence\tlabel\na\tpositive\n", {}, "line 2: unknown label 'positive'.*--labels"),
        ("sentence\tlabel\na\t-1\n", {}, "line 2: unknown label '-1'"),
        ("sentence\tlabel\na\t\u00b2\n", {}, "line 2: unknown label '\u00b2'"),
        ("sentence\tlabel\na\t\u0663\n", {}, "line 2: unknown label '\u0663'"),
        ("sentence\tlabel\na\t0\nb\t2\n", {"num_labels": 2}, "line 3: unknown label 2"),
        ("sentence\tlabel\na\tneg\n", {"label_names": ["no", "yes"]}, "unknown label 'neg'"),
        ("sentence\tlabel\na\n", {}, "line 2 has 1 fields"),
        ("sentence\tlabel\n \t1\n", {}, "line 2 has an empty text"),
        ("sentence\tlabel\n", {}, "no rows below its header"),
        ("", {}, "is empty"),
    ],
)
def test_bad_files_stop_with_one_line_naming_the_problem(tmp_path, text, kwargs, message):
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(UsageError, match=message) as error:
        read_labelled(path, **kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("spec", ["a", "a,,b", "a,b,a"])
def test_bad_label_names(spec):
    with pytest.raises(UsageError, match="--labels"):
        parse_label_names(spec)
