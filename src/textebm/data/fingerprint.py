"""Fingerprints of what a run reads, so that a resumed run can tell whether it reads the same.

    model_fingerprint("runs/cmlm")   # {"config.json": "9f2c...", "model.safetensors": ...}
    lines_fingerprint(["a b", "c"])  # SHA-256 of the lines, in order

A model folder is fingerprinted by the contents of the files `from_pretrained` reads from it
(config, weights, tokenizer), not by their paths or times: a copied or moved model matches, a
retrained one does not, and a training run's logs and checkpoints beside the final model
(metrics.jsonl, checkpoints/) can change without changing the fingerprint. Hashing costs under a
second per GB (0.16 s for 200 MB on the 2-core dev machine), little beside loading the same bytes
as a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from textebm.errors import UsageError

# The files of a saved model and tokenizer that change what loading it gives (Hugging Face's
# names); any other file in the folder is not read by `from_pretrained`.
_MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)
_MODEL_SUFFIXES = (".safetensors", ".safetensors.index.json", ".model")


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(model: str) -> dict[str, str]:
    """{file name: SHA-256} of a model folder's config, weights and tokenizer files, by name.

    A hub id (not a folder) is fingerprinted by the id itself ({"hub id": model}): its files
    live in a cache that the hub may update, so pass a local folder for a checked resume.
    """
    folder = Path(model)
    if not folder.is_dir():
        return {"hub id": model}
    files = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and (path.name in _MODEL_FILES or path.name.endswith(_MODEL_SUFFIXES))
    )
    try:
        return {path.name: file_digest(path) for path in files}
    except OSError as error:  # unreadable weights: the loader would fail too, but later
        raise UsageError(f"cannot read model {model}: {error}") from None


def lines_fingerprint(lines: Sequence[str]) -> str:
    """SHA-256 (hex) of `lines` in order (no line holds a newline, so joining by one is
    unambiguous)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
