"""Labelled rows from a Hugging Face dataset split: the TSV reader's columns and label rule, and
ClassLabel columns. Datasets are built offline with `Dataset.from_dict(...).save_to_disk`."""

from __future__ import annotations

import pytest

from textebm.data.labelled import (
    LabelledExample,
    read_labelled,
    read_labelled_dataset,
    read_labelled_from,
)
from textebm.errors import UsageError

datasets = pytest.importorskip("datasets")

TEXTS = ["a fine film .", "awful .", "so so", "great fun"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))


def saved(folder, columns: dict, features: dict | None = None, split: str = "train") -> str:
    """A DatasetDict with one split, saved to `folder`; returns the folder as a string."""
    features = datasets.Features(features) if features else None
    split_data = datasets.Dataset.from_dict(columns, features=features)
    datasets.DatasetDict({split: split_data}).save_to_disk(str(folder))
    return str(folder)


def class_label(*names: str):
    return {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=list(names))}


def test_class_label_integers_are_the_labels_and_names_match_by_name(tmp_path):
    folder = saved(
        tmp_path / "d", {"sentence": TEXTS, "label": [1, 0, 0, 1]}, class_label("neg", "pos")
    )
    expected = [LabelledExample(t, label) for t, label in zip(TEXTS, [1, 0, 0, 1], strict=True)]
    rows = read_labelled_dataset(folder, "train")
    assert rows == expected and rows.class_names == ["neg", "pos"]
    # --labels in another order: each class matched by its name, so the indices flip.
    flipped = [LabelledExample(t, 1 - e.label) for t, e in zip(TEXTS, expected, strict=True)]
    assert read_labelled_dataset(folder, "train", label_names=["pos", "neg"]) == flipped


def test_string_and_integer_label_columns_read_as_a_tsv_would(tmp_path):
    labels = ["pos", "neg", "neg", "pos"]
    folder = saved(tmp_path / "s", {"sentence": TEXTS, "label": labels})
    tsv = tmp_path / "train.tsv"
    tsv.write_text(
        "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(TEXTS, labels, strict=True))
    )
    names = ["neg", "pos"]
    assert read_labelled_dataset(folder, "train", label_names=names) == read_labelled(
        tsv, label_names=names
    )
    numbers = saved(tmp_path / "n", {"sentence": TEXTS, "label": [2, 0, 1, 2]})
    rows = read_labelled_dataset(numbers, "train")
    assert [r.label for r in rows] == [2, 0, 1, 2] and rows.class_names is None  # no ClassLabel
    assert read_labelled_from(tsv, None, "train", label_names=names).class_names is None


def test_sentence_pairs_and_other_column_names(tmp_path):
    columns = {"premise": TEXTS, "hypothesis": TEXTS[::-1], "gold": [0, 1, 1, 0]}
    folder = saved(tmp_path / "p", columns, split="dev")
    rows = read_labelled_dataset(
        folder, "dev", text_column="premise", text_pair_column="hypothesis", label_column="gold"
    )
    assert rows[0] == LabelledExample(TEXTS[0], 0, TEXTS[-1])
    assert [r.text_pair for r in rows] == TEXTS[::-1]


ZERO_ONE = [0, 1, 0, 1]
NEG_POS = ["neg", "pos"]
BAD_ROWS = [
    (
        {"text": TEXTS, "label": ZERO_ONE},
        None,
        {},
        "has no column 'sentence' (--text-column); its columns are ['text', 'label']",
    ),
    (
        {"sentence": TEXTS, "label": ZERO_ONE},
        None,
        {"label_column": "gold"},
        "has no column 'gold' (--label-column)",
    ),
    (
        {"sentence": TEXTS, "label": ["pos", "neg", "meh", "pos"]},
        None,
        {"label_names": NEG_POS},
        "row 3: unknown label 'meh'; --labels names ['neg', 'pos']",
    ),
    (
        {"sentence": TEXTS, "label": ["pos", "neg", "neg", "pos"]},
        None,
        {},
        "row 1: unknown label 'pos': labels are integers 0..C-1; name the labels with --labels",
    ),
    (
        {"sentence": TEXTS, "label": [0, -1, 0, 1]},
        class_label("neg", "pos"),
        {},
        "row 2: unknown label -1: the column's classes are 0..1 (neg, pos)",
    ),
    (
        {"sentence": TEXTS, "label": [0, 1, 2, 1]},
        class_label("neg", "pos", "mixed"),
        {"label_names": NEG_POS},
        "row 3: unknown label 'mixed'",
    ),
    (
        {"sentence": TEXTS, "label": [0, 1, 2, 1]},
        None,
        {"num_labels": 2},
        "row 3: unknown label 2: the labels are 0..1",
    ),
    (
        {"sentence": ["ok", "  ", "x", "y"], "label": ZERO_ONE},
        None,
        {},
        "row 2 has an empty text",
    ),
]


@pytest.mark.parametrize(("columns", "features", "kwargs", "message"), BAD_ROWS)
def test_bad_rows_are_one_line_errors_naming_dataset_split_and_row(
    tmp_path, columns, features, kwargs, message
):
    folder = saved(tmp_path / "bad", columns, features)
    with pytest.raises(UsageError) as caught:
        read_labelled_dataset(folder, "train", **kwargs)
    text = str(caught.value)
    assert message in text and f"dataset {folder!r} split 'train'" in text
    assert "\n" not in text


def test_a_missing_split_or_folder_is_a_one_line_error(tmp_path):
    folder = saved(tmp_path / "d", {"sentence": TEXTS, "label": [0, 1, 0, 1]})
    with pytest.raises(UsageError, match="has no split 'validation'"):
        read_labelled_dataset(folder, "validation")
    with pytest.raises(UsageError, match="cannot load dataset"):
        read_labelled_dataset(str(tmp_path / "nothing" / "here"), "train")
