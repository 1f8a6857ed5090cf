"""Starting a recipe's model from a saved one (`--init-from DIR`, or a noise model's folder).

Every recipe does the same two things: load the folder with its own loader (a masked LM, a causal
LM, a classifier with a fresh head, an Electric model made from an encoder, ...), then check that
the model takes every id of the run's tokenizer and `--context-length` positions, since a model
too small for either fails later with an index error deep inside an embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.errors import UsageError
from textebm.recipes.config import TrainConfig


def bert_settings(config: TrainConfig, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """A fresh BERT-style encoder's configuration: the run's size, dropout and context, the
    tokenizer's vocabulary and padding, two token types (sentence pairs)."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.context_length,
        type_vocab_size=2,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        pad_token_id=tokenizer.pad_token_id,
    )


def positions(settings: PretrainedConfig, default: int) -> int:
    """How many positions a model configured by `settings` takes; `default` if it does not say.

    BERT-style configs call it max_position_embeddings, GPT-2 and the cloze model n_positions.
    """
    for name in ("max_position_embeddings", "n_positions"):
        limit = getattr(settings, name, None)
        if limit is not None:
            return limit
    return default


def check_fits(
    settings: PretrainedConfig, vocabulary: int, context_length: int, source: str
) -> None:
    """Raise UsageError unless the model takes `vocabulary` ids and `context_length` positions.

    source: how the user named the model, e.g. "--init-from DIR" or "--noise DIR".
    """
    limit = positions(settings, context_length)
    if settings.vocab_size < vocabulary or limit < context_length:
        raise UsageError(
            f"{source} takes {settings.vocab_size} token ids and {limit} positions; the "
            f"tokenizer has {vocabulary} tokens and --context-length is {context_length}"
        )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def load_init(
    config: TrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    load: Callable[[str], PreTrainedModel],
) -> PreTrainedModel:
    """The model in `config.init_from`, read by `load` (folder -> model), checked to fit.

    A folder the loader cannot read (another model type, missing weights) is a one-line
    UsageError naming the folder; a UsageError from `load` itself passes through unchanged.
    """
    folder = config.init_from
    if folder is None:
        raise ValueError("load_init needs config.init_from")
    # A path (not a hub id) that is no folder: the hub's own error would complain of a repo id.
    looks_like_path = folder.startswith((".", "/", "~")) or folder.count("/") > 1
    if looks_like_path and not Path(folder).expanduser().is_dir():
        raise UsageError(f"--init-from {folder}: no such folder")
    try:
        model = load(folder)
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"cannot load --init-from {folder}: {_first_line(error)}") from None
    check_fits(model.config, len(tokenizer), config.context_length, f"--init-from {folder}")
    return model


def check_causal_lm(folder: str) -> None:
    """UsageError unless the folder's model has a causal-LM head (architectures it records).

    Why: a BERT masked LM loads with `AutoModelForCausalLM` too (BertLMHeadModel, bidirectional),
    and trained as a causal LM it would see the very tokens it predicts.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        settings = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError, KeyError):
        return  # `load_init` reports a folder that does not load, in one line
    heads = set()
    for names in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        heads.update([names] if isinstance(names, str) else names)
    found = settings.architectures or []
    if found and not set(found) & heads:
        raise UsageError(
            f"--init-from {folder} holds a {found[0]}, not a causal LM with an LM head "
            "(e.g. GPT2LMHeadModel); train one with `textebm train clm`"
        )
