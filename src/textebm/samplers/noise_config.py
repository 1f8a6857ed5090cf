"""The configuration of `textebm generate-noise` (`samplers.make_noise`), in a module of its own
so that the command line builds its flags without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.config import _check_types, option

METHODS = ("mlm-fill", "rewrite")
FILLS = ("parallel", "sequential")


@dataclass
class NoiseConfig:
    """Which training file (or dataset split) to imitate, with which masked LM, how much noise,
    and how drawn."""

    method: str = option(
        "mlm-fill",
        "mlm-fill: refill masked tokens from a masked LM; rewrite: a model of `train noise-lm` "
        "writes the full text after a masked prompt",
        "noise",
        choices=METHODS,
    )
    model: str | None = option(
        None,
        "hub id or folder of the masked LM that fills the masks, or of the rewrite model "
        "(required)",
        "noise",
    )
    train: str | None = option(
        None,
        "labelled training TSV the noise imitates (or --dataset)",
        "data",
        metavar="FILE",
    )
    dataset: str | None = option(
        None,
        "a labelled Hugging Face dataset (hub name, or a folder written by save_to_disk) "
        "instead of --train: the noise imitates its --split, as `train classifier --dataset` "
        "reads it",
        "data",
        metavar="NAME",
    )
    split: str = option(
        "train", "the dataset split the noise imitates (train classifier's --split)", "data"
    )
    text_column: str = option("sentence", "the column holding the (first) text", "data")
    text_pair_column: str | None = option(
        None, "the column holding the second text, for sentence pairs", "data", metavar="NAME"
    )
    label_column: str = option("label", "the column holding the label", "data", metavar="NAME")
    labels: str | None = option(
        None, "label names, comma-separated (as for train classifier)", "data", metavar="A,B,..."
    )
    tokenizer: str | None = option(
        None,
        "fingerprint the file for this model's tokenizer (the classifier's) instead of --model's; "
        "it must have the same vocabulary for the noise to mean the same tokens",
        "data",
        metavar="MODEL",
    )
    ratio: int = option(1, "K: noise texts per training example", "noise")
    mask_fraction: float = option(
        0.4,
        "mlm-fill: fraction of each text's tokens masked and refilled; rewrite: probability "
        "that each token is masked in the prompt",
        "noise",
    )
    top_k: int | None = option(
        None,
        "draw from the k most probable tokens, 0 all (default: 10 for mlm-fill, as the "
        "reference's MLM sampler; 20 for rewrite, as the paper)",
        "noise",
    )
    temperature: float = option(1.0, "divides the masked LM's logits", "noise")
    fill: str = option(
        "parallel",
        "mlm-fill: parallel draws every mask from one pass; sequential one mask per pass, in "
        "random order",
        "noise",
        choices=FILLS,
    )
    seed: int = option(0, "seeds the masks and the draws", "noise")
    batch_size: int = option(32, "noise texts per forward pass", "noise")
    max_length: int | None = option(
        None, "cut texts to this many tokens (default: the model's limit)", "noise"
    )
    device: str | None = option(None, "e.g. cpu, cuda:0 (default: best one)", "noise")

    def __post_init__(self) -> None:
        _check_types(self)
        if self.method not in METHODS:
            raise UsageError(f"--method must be one of {METHODS}, not {self.method!r}")
        if self.fill not in FILLS:
            raise UsageError(f"--fill must be one of {FILLS}, not {self.fill!r}")
        if self.ratio < 1:
            raise UsageError(f"--ratio must be at least 1, not {self.ratio}")
        if not 0 < self.mask_fraction <= 1:
            raise UsageError(f"--mask-fraction must lie in (0, 1], not {self.mask_fraction}")
        if self.top_k is not None and self.top_k < 0:
            raise UsageError(f"--top-k must be 0 (all) or more, not {self.top_k}")
        if not self.temperature > 0:
            raise UsageError(f"--temperature must be positive, not {self.temperature}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, not {self.batch_size}")
        if self.max_length is not None and self.max_length < 4:
            raise UsageError(f"--max-length must be at least 4, not {self.max_length}")


def default_top_k(config: NoiseConfig) -> int:
    """--top-k, or the method's default: 10 for mlm-fill (the reference code's MLM sampler), 20
    for rewrite (the paper's)."""
    if config.top_k is not None:
        return config.top_k
    return 20 if config.method == "rewrite" else 10
