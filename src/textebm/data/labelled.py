"""Labelled text for classifiers: GLUE-style TSV files or Hugging Face datasets, single
sentences or sentence pairs.

A file has a header row naming its columns (defaults `sentence` and `label`, as in GLUE's SST-2);
`.gz` is read transparently and a UTF-8 byte-order mark is tolerated (`read_lines`). Labels are
the integers 0..C-1, or the names given in `label_names` (label i is `label_names[i]`); any
other value, in any file, is an unknown label and stops the read with a one-line error.

A dataset split (`read_labelled_dataset`) is read by the same columns and the same rule, with one
addition: a `ClassLabel` column (GLUE's on the hub) holds integers that name classes, so without
`label_names` its integers are the labels (C = its number of classes; -1, an unlabelled row, is
an unknown label), and with `label_names` each class is matched by its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textebm.data.files import read_lines
from textebm.errors import UsageError


@dataclass(frozen=True)
class LabelledExample:
    """One row: its text (and second text, for sentence pairs) and its label index."""

    text: str
    label: int
    text_pair: str | None = None


class LabelledRows(list[LabelledExample]):
    """The rows read, in order (a list), and `class_names`: the class names of a dataset's
    `ClassLabel` label column (None for a file or another column), read with the rows so that
    a caller need not load the dataset again to name its classes."""

    def __init__(self, rows=(), class_names: list[str] | None = None) -> None:
        super().__init__(rows)
        self.class_names = class_names


def parse_label_names(spec: str | None) -> list[str] | None:
    """`--labels a,b,c` as a list of names, or None (then labels are integers 0..C-1)."""
    if spec is None:
        return None
    names = [name.strip() for name in spec.split(",")]
    if len(names) < 2 or any(not name for name in names):
        raise UsageError(f"--labels {spec!r}: give at least two non-empty names, comma-separated")
    if len(set(names)) != len(names):
        raise UsageError(f"--labels {spec!r} names a label twice")
    return names


def label_index(
    value: str, label_names: Sequence[str] | None, num_labels: int | None, where: str
) -> int:
    """The index of one label cell: its position in `label_names`, or the integer it spells.

    `num_labels`, when known, bounds integer labels to 0..num_labels-1.
    """
    value = value.strip()
    if label_names is not None:
        if value in label_names:
            return label_names.index(value)
        raise UsageError(f"{where}: unknown label {value!r}; --labels names {list(label_names)}")
    # ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and other
    # scripts' digits ("٣"), neither a label a file means as an integer
    if not (value.isascii() and value.isdigit()):
        hint = "; name the labels with --labels a,b,..." if value else ""
        raise UsageError(f"{where}: unknown label {value!r}: labels are integers 0..C-1{hint}")
    index = int(value)
    if num_labels is not None and index >= num_labels:
        raise UsageError(f"{where}: unknown label {index}: the labels are 0..{num_labels - 1}")
    return index


def read_labelled(
    path: str | Path,
    text_column: str = "sentence",
    label_column: str = "label",
    text_pair_column: str | None = None,
    label_names: Sequence[str] | None = None,
    num_labels: int | None = None,
) -> list[LabelledExample]:
    """The rows of a labelled TSV file, in file order (blank lines skipped).

    Raises UsageError for a missing column (naming the header's columns), a row with too few
    fields, an empty text, or an unknown label (naming the file and 1-based line number).
    """
    lines = read_lines(path)
    if not lines:
        raise UsageError(f"{path} is empty: expected a header row naming its columns")
    header = lines[0].split("\t")
    wanted = {"--text-column": text_column, "--label-column": label_column}
    if text_pair_column is not None:
        wanted["--text-pair-column"] = text_pair_column
    for flag, column in wanted.items():
        if column not in header:
            raise UsageError(f"{path} has no column {column!r} ({flag}); its header names {header}")
    text_at = header.index(text_column)
    label_at = header.index(label_column)
    pair_at = None if text_pair_column is None else header.index(text_pair_column)
    needed = max(text_at, label_at, -1 if pair_at is None else pair_at) + 1
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        fields = line.split("\t")
        if len(fields) < needed:
            raise UsageError(f"{where} has {len(fields)} fields; the header names {len(header)}")
        text = fields[text_at]
        pair = None if pair_at is None else fields[pair_at]
        if not text.strip() or (pair is not None and not pair.strip()):
            raise UsageError(f"{where} has an empty text")
        label = label_index(fields[label_at], label_names, num_labels, where)
        examples.append(LabelledExample(text, label, pair))
    if not examples:
        raise UsageError(f"{path} holds no rows below its header")
    return examples


def class_label_names(dataset, column: str) -> list[str] | None:
    """The class names of a `datasets.ClassLabel` column, or None for any other column."""
    import datasets

    feature = dataset.features.get(column)
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def read_labelled_dataset(
    name: str,
    split: str,
    text_column: str = "sentence",
    label_column: str = "label",
    text_pair_column: str | None = None,
    label_names: Sequence[str] | None = None,
    num_labels: int | None = None,
) -> LabelledRows:
    """The rows of one split of a Hugging Face dataset (hub name or `save_to_disk` folder), in
    order, by the columns and label rule of `read_labelled` (see the module notes on ClassLabel),
    with the label column's class names when it is a ClassLabel.

    Raises UsageError for a missing dataset, split or column, an empty text, or an unknown label
    (naming the dataset, split and 1-based row).
    """
    from textebm.data.corpus import load_dataset_split

    dataset = load_dataset_split(name, split)
    source = f"dataset {name!r} split {split!r}"
    wanted = {"--text-column": text_column, "--label-column": label_column}
    if text_pair_column is not None:
        wanted["--text-pair-column"] = text_pair_column
    for flag, column in wanted.items():
        if column not in dataset.column_names:
            raise UsageError(
                f"{source} has no column {column!r} ({flag}); its columns are "
                f"{dataset.column_names}"
            )
    classes = class_label_names(dataset, label_column)
    texts = dataset[text_column]
    pairs = None if text_pair_column is None else dataset[text_pair_column]
    examples = []
    for row, (text, value) in enumerate(zip(texts, dataset[label_column], strict=True)):
        where = f"{source}: row {row + 1}"
        pair = None if pairs is None else pairs[row]
        if not _filled(text) or (pairs is not None and not _filled(pair)):
            raise UsageError(f"{where} has an empty text")
        if classes is not None:
            if not isinstance(value, int) or not 0 <= value < len(classes):
                raise UsageError(
                    f"{where}: unknown label {value!r}: the column's classes are "
                    f"0..{len(classes) - 1} ({', '.join(classes)})"
                )
            if label_names is not None:
                value = classes[value]  # matched by name below
        label = label_index(str(value), label_names, num_labels, where)
        examples.append(LabelledExample(str(text), label, None if pair is None else str(pair)))
    if not examples:
        raise UsageError(f"{source} holds no rows")
    return LabelledRows(examples, classes)


def _filled(text) -> bool:
    return text is not None and bool(str(text).strip())


def read_labelled_from(
    file: str | Path | None, dataset: str | None, split: str, **columns
) -> LabelledRows:
    """Labelled rows from a TSV `file` (no class names), or, without one, from `split` of
    `dataset` (see `read_labelled_dataset`)."""
    if file is not None:
        return LabelledRows(read_labelled(file, **columns))
    if dataset is None:
        raise ValueError("read_labelled_from needs a file or a dataset")
    return read_labelled_dataset(dataset, split, **columns)


def count_labels(examples: Sequence[LabelledExample], label_names: Sequence[str] | None) -> int:
    """C, the number of classes: len(label_names), or one more than the largest integer label."""
    if label_names is not None:
        return len(label_names)
    return max(example.label for example in examples) + 1
