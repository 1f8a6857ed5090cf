"""`NoiseLmConfig`, apart from the recipe so that the command line builds its flags without
importing torch (as `classifier_config`)."""

from __future__ import annotations

from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.config import ClmConfig, option


@dataclass
class NoiseLmConfig(ClmConfig):
    """A causal LM that rewrites a masked text into the full text (the joint-EBM noise model)."""

    text_pair_column: str | None = option(
        None,
        "a second text column of the --corpus TSV (sentence pairs): its texts are trained on too",
        "data",
        metavar="NAME",
    )
    mask_probability: float = option(
        0.4, "probability that each token is masked in the prompt", "objective"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.mask_probability < 1:
            raise UsageError(f"--mask-probability must lie in (0, 1), not {self.mask_probability}")
