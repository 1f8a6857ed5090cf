"""Training corpora: a text file (`.gz` transparently), a TSV column, or a Hugging Face dataset.

A corpus is a list of documents, each a list of non-blank lines. In a text file a blank line
separates documents; in a TSV file or a dataset every row is a document (a row's text may itself
hold several lines and blank lines, which split it the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textebm.data.files import read_lines
from textebm.errors import UsageError

Documents = list[list[str]]


def split_documents(lines: Iterable[str]) -> Documents:
    """Group lines into documents at blank (or whitespace-only) lines, which are dropped."""
    documents: Documents = [[]]
    for line in lines:
        if line.strip():
            documents[-1].append(line)
        elif documents[-1]:
            documents.append([])
    return [document for document in documents if document]


def tsv_column(lines: list[str], column: str, source: str = "TSV") -> list[str]:
    """The values of `column` (named in the header, the first line) of tab-separated lines."""
    if not lines:
        raise UsageError(f"{source} is empty: expected a header naming column {column!r}")
    header = lines[0].split("\t")
    if column not in header:
        raise UsageError(f"{source} has no column {column!r}; its header names {header}")
    index = header.index(column)
    values = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if index >= len(fields):
            raise UsageError(f"{source}: line {number} has {len(fields)} fields, no {column!r}")
        values.append(fields[index])
    return values


def read_corpus(path: str | Path, text_column: str | None = None) -> Documents:
    """Documents of a text file (blank lines separate them) or of a TSV column (one per row)."""
    lines = read_lines(path)
    if text_column is None:
        documents = split_documents(lines)
    else:  # a TSV cell holds no line break: each row is a one-line document
        documents = [
            [value] for value in tsv_column(lines, text_column, str(path)) if value.strip()
        ]
    if not documents:
        raise UsageError(f"{path} holds no text")
    return documents


def _load_dataset(name: str, split: str | None):
    try:
        import datasets
    except ImportError:
        raise UsageError(
            "--dataset needs the datasets library: pip install 'textebm[datasets]'"
        ) from None
    path = Path(name)
    if not path.exists():
        from textebm.models.hub import offline_unless_reachable

        offline_unless_reachable()  # rather than retrying an unreachable hub for a minute
    try:
        if path.is_dir() and (
            (path / "dataset_dict.json").exists() or (path / "state.json").exists()
        ):
            loaded = datasets.load_from_disk(name)  # a folder written by save_to_disk
            return (
                loaded if split is None or isinstance(loaded, datasets.Dataset) else (loaded[split])
            )
        return datasets.load_dataset(name, split=split)
    except KeyError as error:
        raise UsageError(f"dataset {name!r} has no split {split!r} ({error})") from None
    except Exception as error:  # datasets raises many types (network, missing files, bad names)
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error)
        hint = "" if path.exists() else "; offline, pass a local dataset folder"
        raise UsageError(f"cannot load dataset {name!r}: {reason}{hint}") from None


def load_dataset_split(name: str, split: str):
    """One split of a Hugging Face dataset (hub name or a `save_to_disk` folder), as a
    `datasets.Dataset`; a one-line UsageError if it cannot be loaded or has no such split."""
    return _load_dataset(name, split)


def dataset_splits(name: str) -> list[str]:
    """The split names of a Hugging Face dataset (name or local folder)."""
    loaded = _load_dataset(name, None)
    return sorted(loaded.keys()) if hasattr(loaded, "keys") else []


def read_dataset(name: str, split: str = "train", text_column: str | None = None) -> Documents:
    """Documents of a Hugging Face dataset split, one per row of `text_column` (default "text")."""
    dataset = _load_dataset(name, split)
    column = text_column or "text"
    if column not in dataset.column_names:
        raise UsageError(
            f"dataset {name!r} has no column {column!r}; pass --text-column, one of "
            f"{dataset.column_names}"
        )
    documents = []
    for value in dataset[column]:
        documents.extend(split_documents(str(value).splitlines()))
    if not documents:
        raise UsageError(f"dataset {name!r} split {split!r} holds no text")
    return documents


def load_corpus(
    corpus: str | None, dataset: str | None, split: str = "train", text_column: str | None = None
) -> Documents:
    """Documents from a file (`corpus`) or a Hugging Face dataset: exactly one must be given."""
    if (corpus is None) == (dataset is None):
        raise UsageError("pass exactly one of --corpus FILE and --dataset NAME")
    if corpus is not None:
        return read_corpus(corpus, text_column)
    return read_dataset(dataset, split, text_column)


def lines_of(documents: Documents) -> list[str]:
    """All lines of all documents, in order."""
    return [line for document in documents for line in document]
