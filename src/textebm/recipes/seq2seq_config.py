"""Configuration of the encoder-decoder translation recipe (`textebm train seq2seq`).

Kept apart from the recipe, which imports torch, so that `textebm --help` stays fast.
The parallel files reuse TrainConfig's data fields under clearer names: `--source` is `--corpus`
and `--validation-source` is `--validation` (as `train classifier` calls them `--train`, `--dev`);
the target sides are fields of their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from textebm.errors import UsageError
from textebm.recipes.config import TrainConfig, option


def _renamed(name: str, flag: str, **changes: Any) -> Any:
    """TrainConfig's field `name`, whose flag is `flag` (the old flag kept as an alias)."""
    base = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    metadata = {**base.metadata, **changes}
    metadata["aliases"] = (f"--{name.replace('_', '-')}", *base.metadata.get("aliases", ()))
    metadata["flag"] = flag
    return field(default=base.default, metadata=metadata)


@dataclass
class Seq2SeqConfig(TrainConfig):
    """An encoder-decoder transformer (BART layout) trained by teacher-forced cross-entropy.

    The preset sizes each stack: `--layers 3` is three encoder and three decoder layers. Source
    and target share the tokenizer and one embedding matrix (also the output projection).
    """

    corpus: str | None = _renamed(
        "corpus",
        "--source",
        help="source side of the training pairs, one sentence a line (.gz read transparently)",
    )
    target: str | None = option(
        None,
        "target side of the training pairs, line-aligned with --source",
        "data",
        path=True,
        metavar="FILE",
    )
    validation: str | None = _renamed(
        "validation",
        "--validation-source",
        help="source side of held-out pairs for validation loss and perplexity (optional)",
    )
    validation_target: str | None = option(
        None,
        "target side of the held-out pairs, line-aligned with --validation-source",
        "data",
        path=True,
        metavar="FILE",
    )
    label_smoothing: float = option(
        0.0,
        "label smoothing of the training cross-entropy (0.1 is the transformer's usual value); "
        "validation loss and perplexity are always unsmoothed",
        "objective",
    )

    def __post_init__(self) -> None:
        # Before TrainConfig's checks, whose messages name --corpus and --dataset.
        if self.dataset is not None or self.text_column is not None:
            raise UsageError(
                "train seq2seq reads two line-aligned text files: pass --source FILE "
                "--target FILE (not --dataset or --text-column)"
            )
        if self.corpus is None or self.target is None:
            raise UsageError("pass --source FILE and --target FILE, line-aligned parallel text")
        super().__post_init__()
        if (self.validation is None) != (self.validation_target is None):
            raise UsageError(
                "pass both --validation-source FILE and --validation-target FILE, or neither"
            )
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"label_smoothing must lie in [0, 1), not {self.label_smoothing}")
