"""`textebm train tokenizer|mlm|clm|cloze|electric|cmlm|seq2seq|classifier|sequencematch`:
train a tokenizer or a model.

Each sub-command's flags are generated from its configuration dataclass: one flag per field, its
help text from the field's metadata. A recipe is registered in `RECIPES` by its config class and
the dotted path of its entry function, so a new objective adds one line here and nothing else.
The heavy imports (torch, transformers) happen only when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import typing
from typing import Any

from textebm.data.tokenizers import TokenizerConfig
from textebm.recipes.classifier_config import ClassifierConfig
from textebm.recipes.cmlm_config import CmlmConfig
from textebm.recipes.config import ClmConfig, MlmConfig, load_config
from textebm.recipes.electric_config import ClozeTrainConfig, ElectricTrainConfig
from textebm.recipes.noise_lm_config import NoiseLmConfig
from textebm.recipes.seq2seq_config import Seq2SeqConfig
from textebm.recipes.sequencematch_config import SequenceMatchConfig

# sub-command: (config class, "module:function" taking the config, one-line description)
RECIPES: dict[str, tuple[type, str, str]] = {
    "mlm": (
        MlmConfig,
        "textebm.recipes.mlm:train_mlm",
        "a masked LM (BERT, 15% masking), saved for AutoModelForMaskedLM",
    ),
    "clm": (
        ClmConfig,
        "textebm.recipes.clm:train_clm",
        "a causal LM (GPT-2, eos at each line end), saved for AutoModelForCausalLM",
    ),
    "cloze": (
        ClozeTrainConfig,
        "textebm.recipes.cloze:train_cloze",
        "a two-tower cloze model (q(x_t | the other tokens), Electric's noise), for AutoModel",
    ),
    "electric": (
        ElectricTrainConfig,
        "textebm.recipes.electric:train_electric",
        "Electric (per-token energies by NCE against --noise DIR|joint), for AutoModel",
    ),
    "noise-lm": (
        NoiseLmConfig,
        "textebm.recipes.noise_lm:train_noise_lm",
        "the joint-EBM noise model: a causal LM that rewrites a text with 40% of its tokens "
        "masked into the full text, for generate-noise --method rewrite",
    ),
    "cmlm": (
        CmlmConfig,
        "textebm.recipes.cmlm:train_cmlm",
        "a conditional masked LM (Mask-Predict's CMLM) on line-aligned --source/--target text, "
        "saved for AutoModel",
    ),
    "seq2seq": (
        Seq2SeqConfig,
        "textebm.recipes.seq2seq:train_seq2seq",
        "an encoder-decoder translation model (BART layout) on line-aligned --source and "
        "--target files, saved for AutoModelForSeq2SeqLM; decode with textebm.samplers.beam",
    ),
    "classifier": (
        ClassifierConfig,
        "textebm.recipes.classifier:train_classifier",
        "a text classifier on labelled TSV, optionally joint with an energy trained by NCE, "
        "saved for AutoModelForSequenceClassification",
    ),
    "sequencematch": (
        SequenceMatchConfig,
        "textebm.recipes.sequencematch:train_sequencematch",
        "a causal LM fine-tuned by SequenceMatch (imitation learning with a <bkspc> action, "
        "model samples in a replay buffer), saved for AutoModelForCausalLM and generate",
    ),
}


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of dataclass `cls`, grouped by the fields' `group` metadata.

    Defaults are suppressed, so the parsed namespace holds exactly the flags given: they override
    `--config` values, which override the dataclass defaults (shown in the help).
    """
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        group_name = f.metadata.get("group")
        if group_name and group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        target = groups.get(group_name, parser)
        kind = next(
            t for t in (typing.get_args(hints[f.name]) or (hints[f.name],)) if t is not type(None)
        )
        flags = [f"--{f.name.replace('_', '-')}", *f.metadata.get("aliases", ())]
        default = "" if f.default is None else f" (default: {f.default})"
        kwargs: dict[str, Any] = dict(
            dest=f.name,
            default=argparse.SUPPRESS,
            help=(f.metadata.get("help", "") + default).replace("%", "%%"),
        )
        if f.metadata.get("repeat"):  # --flag A --flag B: a list of every value given
            kwargs.update(action="append", type=str, metavar=f.metadata.get("metavar"))
        elif kind is bool:  # --flag for a False default, --flag/--no-flag for a True one
            kwargs["action"] = (
                "store_true" if f.default is False else argparse.BooleanOptionalAction
            )
        else:
            metavar = f.metadata.get("metavar") or {int: "N", float: "X"}.get(kind)
            kwargs.update(
                type=kind,
                metavar=metavar if "choices" not in f.metadata else None,
                choices=f.metadata.get("choices"),
            )
        target.add_argument(*flags, **kwargs)


def add_config_file_and_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """`--config FILE` (a JSON object of `cls`'s fields), then one flag per field
    (`add_config_arguments`): the flags of every command generated from a config dataclass."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON object of the fields below (snake_case names); flags given override it",
    )
    add_config_arguments(parser, cls)


def config_from_args(args: argparse.Namespace, cls: type) -> Any:
    """`cls` from the flags given, over the `--config` file's values, over its defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return load_config(cls, values, getattr(args, "config", None))


def _run_recipe(args: argparse.Namespace) -> int:
    cls, target, _ = RECIPES[args.recipe]
    config = config_from_args(args, cls)
    module, function = target.split(":")
    output = getattr(importlib.import_module(module), function)(config)
    print(f"textebm train {args.recipe}: model saved to {output}")
    return 0


def _run_tokenizer(args: argparse.Namespace) -> int:
    from textebm.data.tokenizers import build_tokenizer

    config = config_from_args(args, TokenizerConfig)
    tokenizer = build_tokenizer(config)
    print(
        f"textebm train tokenizer: {config.kind} tokenizer, {len(tokenizer)} tokens, "
        f"saved to {config.output}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a tokenizer or a model",
        description="Train a tokenizer, or a model that resumes from its last checkpoint when "
        "run again with the same --output and configuration.",
    )
    recipes = parser.add_subparsers(dest="recipe", required=True, parser_class=type(parser))
    tokenizer = recipes.add_parser(
        "tokenizer",
        help="a word-level, WordPiece or byte-level BPE tokenizer",
        description="Train a tokenizer on a corpus and save it for AutoTokenizer.from_pretrained, "
        "with [PAD] [UNK] [CLS] [SEP] [MASK] ([CLS] doubling as bos, [SEP] as eos).",
    )
    tokenizer.add_argument("--config", metavar="FILE", help="JSON file of the fields below")
    add_config_arguments(tokenizer, TokenizerConfig)
    tokenizer.set_defaults(func=_run_tokenizer)
    for name, (cls, _, description) in RECIPES.items():
        recipe = recipes.add_parser(
            name, help=description.replace("%", "%%"), description=f"Train {description}."
        )
        add_config_file_and_arguments(recipe, cls)
        recipe.set_defaults(func=_run_recipe)
