"""Configuration of the conditional masked LM recipe (`textebm train cmlm`), beside `config.py`'s.

Kept in its own light module (no torch import), as the command line imports every config class.
"""

from __future__ import annotations

from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.classifier_config import _aliased
from textebm.recipes.config import TrainConfig, option


@dataclass
class CmlmConfig(TrainConfig):
    """Conditional masked LM (Mask-Predict) on line-aligned parallel text.

    `--target` and `--validation-target` are aliases of `--corpus` and `--validation`; every
    layer count (`--layers`) applies to the encoder and to the decoder alike. One tokenizer (a
    joint one: `textebm train tokenizer --corpus SRC --corpus TGT`) serves both languages.
    """

    corpus: str | None = _aliased(
        "corpus",
        "--target",
        help="target-side training text, one sentence per line, line-aligned with --source "
        "(.gz read transparently)",
    )
    validation: str | None = _aliased(
        "validation",
        "--validation-target",
        help="target side of held-out pairs, line-aligned with --validation-source",
    )
    source: str | None = option(
        None,
        "source-side training text, line i the translation of --target's line i",
        "data",
        path=True,
        metavar="FILE",
    )
    validation_source: str | None = option(
        None,
        "source side of held-out pairs (with --validation-target)",
        "data",
        path=True,
        metavar="FILE",
    )
    length_loss_weight: float = option(
        0.1,
        "w: loss = masked-token cross-entropy + w * target-length negative log-likelihood",
        "objective",
        metavar="W",
    )

    def __post_init__(self) -> None:
        if self.corpus is None and self.dataset is None:
            raise UsageError("pass --target FILE and --source FILE, line-aligned parallel text")
        super().__post_init__()
        if self.dataset is not None:
            raise UsageError("train cmlm reads parallel text files: pass --source and --target")
        if self.source is None:
            raise UsageError("pass --source FILE, the source side of --target's pairs")
        if (self.validation is None) != (self.validation_source is None):
            raise UsageError("held-out pairs need both --validation-source and --validation-target")
        if self.context_length < 3:
            raise UsageError("context_length must leave room for [CLS], a token and [SEP]")
        if not self.length_loss_weight >= 0:
            raise UsageError(f"length_loss_weight must be 0 or more, not {self.length_loss_weight}")
