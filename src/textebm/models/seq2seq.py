"""Encoder-decoder translation models (`textebm train seq2seq`): building one, loading one.

A transformer in BART's layout (`BartForConditionalGeneration`: learned positions, post-norm
layers, a layer norm on the embeddings), built from a size rather than a checkpoint, over the joint
tokenizer of both languages (`textebm train tokenizer`). Source and target share one embedding
matrix, tied to the output projection. The tokenizer's [CLS] starts every decoding (bos) and its
[SEP] ends it (eos), as they open and close every sentence it encodes.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    BartConfig,
    BartForConditionalGeneration,
    GenerationConfig,
    PreTrainedModel,
)
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.errors import UsageError


def seq2seq_model(
    tokenizer: PreTrainedTokenizerBase,
    layers: int,
    hidden_size: int,
    heads: int,
    intermediate_size: int,
    positions: int,
    dropout: float = 0.1,
    init_std: float = 0.02,
) -> BartForConditionalGeneration:
    """A fresh encoder-decoder over `tokenizer`'s vocabulary: `layers` in each stack, up to
    `positions` tokens on either side, decoding from [CLS] (bos) until [SEP] (eos)."""
    bos, eos, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    settings = BartConfig(
        vocab_size=len(tokenizer),
        d_model=hidden_size,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=intermediate_size,
        decoder_ffn_dim=intermediate_size,
        max_position_embeddings=positions,
        dropout=dropout,
        attention_dropout=dropout,
        activation_dropout=0.0,
        scale_embedding=True,  # sqrt(d) x embeddings, as the original transformer
        pad_token_id=pad,
        bos_token_id=bos,
        eos_token_id=eos,
        decoder_start_token_id=bos,
        forced_bos_token_id=None,
        forced_eos_token_id=None,
        tie_word_embeddings=True,
        init_std=init_std,
    )
    model = BartForConditionalGeneration(settings)
    model.generation_config = GenerationConfig(
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, decoder_start_token_id=bos
    )
    return model


def load_seq2seq(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """An `AutoModelForSeq2SeqLM` (folder or hub id) and its tokenizer, in eval mode on `device`.

    Any other kind of model (a masked LM, a CMLM) is a one-line error naming what it is.
    """
    from textebm.models.loading import _check_source, _load_model, _not_found, load_tokenizer

    _check_source(name)
    try:
        settings = AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None
    if not getattr(settings, "is_encoder_decoder", False):
        raise UsageError(
            f"model {name!r} is a {settings.model_type!r} model, not an encoder-decoder; beam "
            "search needs one trained by `textebm train seq2seq`"
        )
    tokenizer = load_tokenizer(name)
    return _load_model(AutoModelForSeq2SeqLM, name, device, dtype), tokenizer
