"""Configuration of the cloze and Electric recipes (`textebm train cloze|electric`).

Kept apart from the recipes, which import torch, so that `textebm --help` stays fast; kept apart
from `recipes/config.py` so that each stays short.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from textebm.errors import UsageError
from textebm.recipes.config import TrainConfig, option


@dataclass
class ClozeTrainConfig(TrainConfig):
    """Two-tower cloze model (Electric's noise): q(x_t | every other token), by max. likelihood.

    The preset sizes each tower (a causal GPT-2); the corpus is cut into `[CLS] line [SEP]`
    examples as for the masked LM, and every ordinary token is a target.
    """


@dataclass
class ElectricTrainConfig(TrainConfig):
    """Electric: per-token energies trained by noise-contrastive estimation (Algorithm 2)."""

    noise: str | None = option(
        None,
        "the noise model: a folder made by `textebm train cloze` on the same tokenizer (frozen), "
        "or 'joint' to train a fresh two-tower cloze model beside Electric by maximum likelihood "
        "(its own loss term 'cloze'; saved in --output/noise)",
        "objective",
        metavar="DIR|joint",
    )
    mask_probability: float = option(
        0.15, "k = max(1, round(p n)) of a line's n tokens are replaced by noise", "objective"
    )
    prior: str = option(
        "sequence",
        "the NCE prior log(k/(n-k)): 'sequence' takes each line's own k and n (Algorithm 2 "
        "exactly); 'constant' the reference code's log(p/(1-p))",
        "objective",
        choices=("sequence", "constant"),
    )
    noise_uniform: float = option(
        0.0,
        "mix this share of a uniform distribution over the vocabulary into the noise, so that "
        "tokens impossible in their context are drawn and Electric learns to reject them (a "
        "strong noise model almost never draws them); q in the loss is the mixture",
        "objective",
        metavar="X",
    )
    noise_layers: int | None = option(
        None,
        "layers of each tower of a joint noise model (default: half of --layers, at least 1)",
        "objective",
        metavar="N",
    )
    noise_hidden_size: int | None = option(
        None,
        "width of a joint noise model (default: half of --hidden-size, so that its two towers "
        "hold about a quarter of Electric's transformer weights, as in the paper)",
        "objective",
        metavar="N",
    )
    noise_heads: int | None = option(
        None,
        "attention heads of a joint noise model (default: half of --heads)",
        "objective",
        metavar="N",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.noise is None:
            raise UsageError(
                "pass --noise DIR (a model from `textebm train cloze`) or --noise joint"
            )
        if self.noise != "joint":
            self.noise = os.path.abspath(os.path.expanduser(self.noise))
            if not os.path.isfile(os.path.join(self.noise, "config.json")):
                raise UsageError(
                    f"--noise {self.noise}: no model folder there; train one with "
                    "`textebm train cloze` or pass --noise joint"
                )
        if not 0 < self.mask_probability < 1:
            raise UsageError(f"mask_probability must lie in (0, 1), not {self.mask_probability}")
        if not 0 <= self.noise_uniform < 1:
            raise UsageError(f"noise_uniform must lie in [0, 1), not {self.noise_uniform}")
        if self.noise_heads is None:
            self.noise_heads = max(1, self.heads // 2)
        if self.noise_layers is None:
            self.noise_layers = max(1, self.layers // 2)
        if self.noise_hidden_size is None:
            half = max(self.noise_heads, self.hidden_size // 2)
            self.noise_hidden_size = half - half % self.noise_heads
        for name in ("noise_layers", "noise_hidden_size", "noise_heads"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.noise_hidden_size % self.noise_heads:
            raise UsageError(
                f"noise_hidden_size {self.noise_hidden_size} is not a multiple of noise_heads "
                f"{self.noise_heads}"
            )
