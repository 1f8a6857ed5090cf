"""Noise files for noise-contrastive training: JSON Lines, with their provenance in a header.

The first line is the header, a JSON object

    {"textebm_noise": 1, "task": TASK, "tokenizer": TOKENIZER, ...}

where TASK fingerprints the training text the noise imitates (`task_fingerprint`: the hash of its
texts, so the same rows in a moved, renamed or gzipped file agree) and TOKENIZER the tokenizer of
the model the noise is for (`tokenizer_fingerprint`: the hash of its vocabulary). Any further keys
(e.g. "source", "noise_model", "seed") describe how the noise was made and are kept as written.
Every later line is one noise example: {"text": ...}, or {"text": ..., "text_pair": ...} for a
task on sentence pairs, which keeps its pairing. `write_noise` writes exactly this (atomically);
`read_noise` checks it and refuses, in one line, noise made for another task or tokenizer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textebm.data.files import atomic_write, read_lines
from textebm.data.labelled import LabelledExample
from textebm.errors import UsageError

FORMAT = 1


@dataclass(frozen=True)
class NoiseExample:
    """One noise text (and its second text, for sentence pairs)."""

    text: str
    text_pair: str | None = None


def task_fingerprint(examples: Sequence[LabelledExample]) -> str:
    """Hash of the training texts (pairs included, labels not), in order: 16 hex digits."""
    digest = hashlib.sha256()
    for example in examples:
        record = [example.text] if example.text_pair is None else [example.text, example.text_pair]
        digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of a tokenizer's vocabulary (token -> id) and special tokens: 16 hex digits.

    The vocabulary rather than the serialised tokenizer, which also holds padding and truncation
    settings that change as the tokenizer is used.
    """
    vocabulary = sorted(tokenizer.get_vocab().items())
    specials = sorted(tokenizer.all_special_tokens)
    payload = json.dumps([vocabulary, specials], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


def write_noise(
    path: str | Path,
    examples: Iterable[NoiseExample],
    task: str,
    tokenizer: str,
    **about: Any,
) -> int:
    """Write a noise file (header, then one line per example) atomically; return the count.

    task, tokenizer: the fingerprints (`task_fingerprint`, `tokenizer_fingerprint`); about: more
    JSON-serialisable provenance for the header.
    """
    header = {"textebm_noise": FORMAT, "task": task, "tokenizer": tokenizer, **about}
    count = 0
    with atomic_write(path) as out:
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for example in examples:
            record = {"text": example.text}
            if example.text_pair is not None:
                record["text_pair"] = example.text_pair
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_noise_header(path: str | Path) -> dict[str, Any]:
    """The header of a noise file, checked for its format and fingerprints."""
    lines = read_lines(path)
    return _header(path, lines)


def _header(path: str | Path, lines: list[str]) -> dict[str, Any]:
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or "textebm_noise" not in header:
        raise UsageError(
            f"{path} is not a textebm noise file: its first line must be the header "
            '{"textebm_noise": 1, "task": ..., "tokenizer": ...}'
        )
    if header["textebm_noise"] != FORMAT:
        raise UsageError(f"{path}: noise file format {header['textebm_noise']!r}, not {FORMAT}")
    for key in ("task", "tokenizer"):
        if not isinstance(header.get(key), str):
            raise UsageError(f"{path}: the header has no {key!r} fingerprint")
    return header


def read_noise(
    path: str | Path, task: str | None = None, tokenizer: str | None = None, pairs: bool = False
) -> list[NoiseExample]:
    """The examples of a noise file, in file order (blank lines skipped).

    task, tokenizer: the expected fingerprints, when given; a mismatch is a one-line error.
    pairs: whether every example must carry a "text_pair" (a sentence-pair task) or none may.
    Raises UsageError for a missing or malformed header, a line that is not a JSON object with a
    non-empty "text", a pairing that does not fit the task, or a file with no examples.
    """
    lines = read_lines(path)
    header = _header(path, lines)
    if task is not None and header["task"] != task:
        raise UsageError(
            f"{path} holds noise made for another task (training text {header['task']}, not "
            f"{task}); generate noise from this --train file"
        )
    if tokenizer is not None and header["tokenizer"] != tokenizer:
        raise UsageError(
            f"{path} holds noise made for another tokenizer ({header['tokenizer']}, not "
            f"{tokenizer}); generate noise with this model's tokenizer"
        )
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{where} is not valid JSON") from None
        if not isinstance(record, dict) or not _text(record.get("text")):
            raise UsageError(f'{where} has no non-empty "text"')
        pair = record.get("text_pair")
        if pairs and not _text(pair):
            raise UsageError(f'{where} has no non-empty "text_pair", which sentence pairs need')
        if not pairs and pair is not None:
            raise UsageError(f'{where} has a "text_pair", but the task is on single sentences')
        examples.append(NoiseExample(record["text"], pair))
    if not examples:
        raise UsageError(f"{path} holds no noise examples below its header")
    return examples


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
