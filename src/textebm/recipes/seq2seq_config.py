"""Configuration of the encoder-decoder translation recipe (`textebm train seq2seq`).

Kept apart from the recipe, which imports torch, so that `textebm --help` stays fast.
The data fields are those of `train cmlm` (`CmlmConfig`), so that one JSON configuration serves
both models of the translation table: `--target` and `--validation-target` are aliases of
TrainConfig's `--corpus` and `--validation`; the source sides are fields of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.classifier_config import _aliased
from textebm.recipes.config import TrainConfig, option


@dataclass
class Seq2SeqConfig(TrainConfig):
    """An encoder-decoder transformer (BART layout) trained by teacher-forced cross-entropy.

    The preset sizes each stack: `--layers 3` is three encoder and three decoder layers. Source
    and target share the tokenizer and one embedding matrix (also the output projection).
    """

    corpus: str | None = _aliased(
        "corpus",
        "--target",
        help="target side of the training pairs, one sentence a line, line-aligned with "
        "--source (.gz read transparently)",
    )
    validation: str | None = _aliased(
        "validation",
        "--validation-target",
        help="target side of held-out pairs for validation loss and perplexity (optional)",
    )
    source: str | None = option(
        None,
        "source side of the training pairs, line i translated by --target's line i",
        "data",
        path=True,
        metavar="FILE",
    )
    validation_source: str | None = option(
        None,
        "source side of the held-out pairs (with --validation-target)",
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
        if self.corpus is None or self.source is None:
            raise UsageError("pass --source FILE and --target FILE, line-aligned parallel text")
        super().__post_init__()
        if (self.validation is None) != (self.validation_source is None):
            raise UsageError(
                "pass both --validation-source FILE and --validation-target FILE, or neither"
            )
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"label_smoothing must lie in [0, 1), not {self.label_smoothing}")
