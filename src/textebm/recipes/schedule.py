"""The learning-rate schedule: linear warm-up, then linear or cosine decay to 0, or constant.

A pure function of the step (or, under `--time-budget`, of the minutes trained), so a resumed run
needs no scheduler state.
"""

from __future__ import annotations

import math

from textebm.recipes.config import TrainConfig


def learning_rate(config: TrainConfig, step: int, elapsed: float | None = None) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up, then decay to 0.

    With `config.time_budget`, `elapsed` (minutes trained so far) replaces the step: warm-up and
    decay run over the budget's minutes, so the rate reaches 0 when the time is up.
    """
    if config.time_budget and elapsed is not None:
        fraction = min(elapsed / config.time_budget, 1.0)
        if fraction < config.warmup_fraction:
            return config.learning_rate * max(fraction / config.warmup_fraction, 1e-3)
        if config.schedule == "constant":
            return config.learning_rate
        progress = (fraction - config.warmup_fraction) / max(1e-9, 1 - config.warmup_fraction)
    else:
        warmup = int(config.warmup_fraction * config.max_steps)
        if step < warmup:
            return config.learning_rate * (step + 1) / warmup
        if config.schedule == "constant":
            return config.learning_rate
        progress = (step - warmup) / max(1, config.max_steps - warmup)
    if config.schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
    return config.learning_rate * (1 - progress)
