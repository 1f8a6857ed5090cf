"""The configuration of `textebm generate` (`samplers.generate_file`): one field per flag, its
help text beside it, in a module without torch so that the command line builds quickly."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textebm.data.files import check_output
from textebm.errors import UsageError
from textebm.recipes.config import _check_types, option

BACKSPACE_MODES = ("auto", "on", "off")


@dataclass
class GenerateConfig:
    """What to continue, with which model, and how to sample (see `samplers.generate_file`)."""

    model: str | None = option(None, "folder (or hub id) of a causal LM (required)", "model")
    prompt: str | None = option(
        None, 'one prompt ("" samples from scratch); or --prompts', "input", metavar="TEXT"
    )
    prompts: str | None = option(
        None, "prompts, one a line (.gz read too); or --prompt", "input", metavar="FILE"
    )
    max_new_tokens: int = option(50, "actions per sample, backspaces included", "sampling")
    temperature: float = option(1.0, "divides the logits; 0 = greedy", "sampling")
    top_k: int | None = option(None, "keep the k most probable tokens", "sampling")
    top_p: float | None = option(None, "nucleus: keep mass top-p, in (0, 1]", "sampling")
    seed: int = option(0, "seeds the one generator", "sampling")
    samples_per_prompt: int = option(1, "samples drawn for each prompt", "sampling")
    backspace: str = option(
        "auto",
        "auto: use <bkspc> if the model has it; on: require it; off: never draw it",
        "sampling",
        choices=BACKSPACE_MODES,
    )
    ban_deleted: bool = option(
        False,
        "never redraw a token in the state a <bkspc> deleted it from (greedy decoding with "
        "backspace loops forever without it: a backspace returns to a state it will leave the "
        "same way); needs backspaces: a one-line error with a model without <bkspc> or with "
        "--backspace off",
        "sampling",
    )
    batch_size: int = option(32, "sequences per batch (changes the draws)", "sampling")
    device: str | None = option(None, "e.g. cpu, cuda:0 (default: best one)", "model")
    output: str = option(
        "-",
        "JSON Lines to write; - for standard output",
        "output",
        aliases=("-o",),
        metavar="OUT.jsonl",
    )

    def __post_init__(self) -> None:
        _check_types(self)


def check_settings(config: GenerateConfig) -> None:
    """One-line errors, naming the flag, for settings that cannot work; before any loading."""
    if config.model is None:
        raise UsageError("pass --model DIR, the causal LM to generate with")
    if (config.prompt is None) == (config.prompts is None):
        raise UsageError("give exactly one of --prompt TEXT or --prompts FILE")
    positive = {
        "--max-new-tokens": config.max_new_tokens,
        "--samples-per-prompt": config.samples_per_prompt,
        "--batch-size": config.batch_size,
    }
    if config.top_k is not None:
        positive["--top-k"] = config.top_k
    for flag, value in positive.items():
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, not {value}")
    if not math.isfinite(config.temperature) or config.temperature < 0:
        raise UsageError(f"--temperature must be >= 0 (0 = greedy), not {config.temperature}")
    if config.top_p is not None and not 0 < config.top_p <= 1:
        raise UsageError(f"--top-p must lie in (0, 1], not {config.top_p}")
    if config.backspace not in BACKSPACE_MODES:
        raise UsageError(f"--backspace must be one of {', '.join(BACKSPACE_MODES)}")
    if config.ban_deleted and config.backspace == "off":
        raise UsageError(
            "--ban-deleted bans what backspaces delete, and --backspace off draws none: drop one"
        )
    inputs = (config.prompts,) if config.prompts is not None else ()
    check_output(config.output, inputs=inputs)
