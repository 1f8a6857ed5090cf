"""A conditional masked language model (CMLM, Mask-Predict: Ghazvininejad et al., EMNLP 2019).

An encoder reads the source sentence; a decoder reads a partially masked target and predicts
every position from the whole target (self-attention is NOT causal) and the encoder's states
(cross-attention); a length predictor gives the target's length from the source:

    p(y_t | y_unmasked, x)   = softmax(W h^dec_t + b)            (decoder, bidirectional)
    p(|y| = L | x)          = softmax(V h^enc_len + c)[L]        (length predictor)

Length predictor: as in Mask-Predict, a special LENGTH token is prepended to the source and its
final encoder state is classified over lengths 0 .. `max_target_length` (content tokens: the
target's [CLS] and [SEP] not counted). The LENGTH token is a learned vector, not a vocabulary
entry, so the joint tokenizer needs no extra token; the decoder's cross-attention sees the source
positions only, not the LENGTH state.

Why a custom stack and not BERT with cross-attention: in transformers, `BertModel` with
`add_cross_attention` requires `is_decoder=True`, which makes its self-attention causal; the CMLM
decoder must see the whole target. `torch.nn.TransformerEncoder` / `TransformerDecoder` layers
(pre-LayerNorm, GELU) without a causal mask do exactly what is needed.

Vocabulary: one token embedding serves the source, the target (a joint tokenizer for both
languages) and, tied, the output layer. Targets are BERT-wrapped, `[CLS] y [SEP]`, as every
textebm sequence, so the masked-LM energies and the samplers' starts apply unchanged.

`CMLMConfig` / `CMLMModel` are registered with `AutoConfig` / `AutoModel` (model type
"textebm-cmlm") when this module is imported (which `import textebm` arranges); `save_pretrained`
writes safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from textebm.models.initialise import init_standard


class CMLMConfig(PretrainedConfig):
    """Sizes of the CMLM. Encoder and decoder share width, heads and feed-forward width.

    max_position_embeddings: longest source and longest target, special tokens included; target
        lengths (content tokens) then range over 0 .. max_position_embeddings - 2.
    """

    model_type = "textebm-cmlm"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 64,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        num_attention_heads: int = 2,
        intermediate_size: int = 256,
        dropout: float = 0.1,
        max_position_embeddings: int = 128,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        pad_token_id: int | None = 0,
        tie_word_embeddings: bool = True,
        **kwargs,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        super().__init__(
            pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs
        )

    @property
    def max_target_length(self) -> int:
        """The longest target the length predictor knows, in content tokens."""
        return self.max_position_embeddings - 2


@dataclass
class CMLMEncoderOutput(ModelOutput):
    """What `CMLMModel.encode` returns.

    last_hidden_state: (batch, source_length, hidden) encoder states of the source tokens (what
        the decoder cross-attends to; zeros-free but meaningless at padded positions).
    length_state: (batch, hidden) the LENGTH token's final state (the length predictor's input).
    """

    last_hidden_state: torch.Tensor | None = None
    length_state: torch.Tensor | None = None


@dataclass
class CMLMOutput(ModelOutput):
    """What `CMLMModel.forward` returns.

    loss: mean masked-token cross-entropy plus mean length negative log-likelihood, when labels
        (and length labels) are given.
    logits: (batch, target_length, vocab); length_log_probs: (batch, max_target_length + 1).
    encoder_last_hidden_state: (batch, source_length, hidden), reusable by `decode`.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    length_log_probs: torch.Tensor | None = None
    encoder_last_hidden_state: torch.Tensor | None = None


def _layer(config: CMLMConfig, kind: type) -> nn.Module:
    return kind(
        d_model=config.hidden_size,
        nhead=config.num_attention_heads,
        dim_feedforward=config.intermediate_size,
        dropout=config.dropout,
        activation="gelu",
        layer_norm_eps=config.layer_norm_eps,
        batch_first=True,
        norm_first=True,  # pre-LayerNorm: trains stably without warm-up tricks at small sizes
    )


class CMLMModel(PreTrainedModel):
    """Encoder + bidirectional decoder + length predictor (see the module notes).

    encode(source_ids, source_mask) -> CMLMEncoderOutput
    decode(target_ids, target_mask, encoder_states, source_mask) -> logits (batch, T, vocab)
    predict_length(encoder_output) -> log-probabilities (batch, max_target_length + 1)
    forward(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, ...) -> both
    """

    config_class = CMLMConfig
    base_model_prefix = "cmlm"
    main_input_name = "input_ids"
    # torch's MultiheadAttention already runs scaled_dot_product_attention; the flag only lets
    # `from_pretrained(..., attn_implementation="sdpa")` (textebm's loaders) accept the model.
    _supports_sdpa = True
    _tied_weights_keys: ClassVar[dict[str, str]] = {"output.weight": "embed_tokens.weight"}

    def __init__(self, config: CMLMConfig) -> None:
        super().__init__(config)
        width = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.source_positions = nn.Embedding(config.max_position_embeddings, width)
        self.target_positions = nn.Embedding(config.max_position_embeddings, width)
        self.length_token = nn.Parameter(torch.zeros(width))
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.TransformerEncoder(
            _layer(config, nn.TransformerEncoderLayer),
            config.encoder_layers,
            norm=nn.LayerNorm(width, eps=config.layer_norm_eps),
            enable_nested_tensor=False,  # pre-LN layers cannot use it; say so, not warn
        )
        self.decoder = nn.TransformerDecoder(
            _layer(config, nn.TransformerDecoderLayer),
            config.decoder_layers,
            norm=nn.LayerNorm(width, eps=config.layer_norm_eps),
        )
        self.length_head = nn.Linear(width, config.max_target_length + 1)
        self.output = nn.Linear(width, config.vocab_size)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if init_standard(module, std):
            return
        if isinstance(module, nn.MultiheadAttention):  # its packed projection is no Linear
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=std)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, CMLMModel):
            nn.init.normal_(module.length_token, mean=0.0, std=std)

    def get_input_embeddings(self) -> nn.Module:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.output

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.output = value

    def _check_length(self, length: int, what: str) -> None:
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"{what} of {length} tokens is longer than the model's "
                f"{self.config.max_position_embeddings} positions"
            )

    def encode(
        self, source_ids: torch.Tensor, source_mask: torch.Tensor | None = None
    ) -> CMLMEncoderOutput:
        """Encoder states of right-padded sources.

        source_ids: (batch, S) int64; source_mask: (batch, S), 1 = real token (None: all real).
        Returns `CMLMEncoderOutput` (states (batch, S, hidden), length_state (batch, hidden)).
        """
        batch, length = source_ids.shape
        self._check_length(length, "a source")
        if source_mask is None:
            source_mask = torch.ones_like(source_ids)
        positions = torch.arange(length, device=source_ids.device)
        tokens = self.embed_tokens(source_ids) + self.source_positions(positions)
        length_token = self.length_token.to(tokens.dtype).expand(batch, 1, -1)
        hidden = self.dropout(torch.cat([length_token, tokens], dim=1))
        keep = torch.cat([source_mask.new_ones(batch, 1), source_mask], dim=1).bool()
        states = self.encoder(hidden, src_key_padding_mask=~keep)
        return CMLMEncoderOutput(last_hidden_state=states[:, 1:], length_state=states[:, 0])

    def decode(
        self,
        target_ids: torch.Tensor,
        target_mask: torch.Tensor | None,
        encoder_states: torch.Tensor,
        source_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits over the vocabulary at every target position.

        target_ids: (batch, T) int64, partially masked ([MASK] ids), right-padded;
        target_mask: (batch, T), 1 = real token (None: all real);
        encoder_states: (batch, S, hidden) from `encode`; source_mask: (batch, S) (None: all real).
        Returns (batch, T, vocab). The output layer is called as a module, so a forward hook on
        `get_output_embeddings()` (textebm's KeepRows) can restrict it to chosen positions.
        """
        length = target_ids.shape[1]
        self._check_length(length, "a target")
        if target_mask is None:
            target_mask = torch.ones_like(target_ids)
        if source_mask is None:
            source_mask = torch.ones(encoder_states.shape[:2], device=target_ids.device)
        positions = torch.arange(length, device=target_ids.device)
        hidden = self.dropout(self.embed_tokens(target_ids) + self.target_positions(positions))
        hidden = self.decoder(
            hidden,
            encoder_states,
            tgt_key_padding_mask=~target_mask.bool(),
            memory_key_padding_mask=~source_mask.bool(),
        )  # no tgt_mask: self-attention is bidirectional
        return self.output(hidden)

    def predict_length(self, encoder_output: CMLMEncoderOutput) -> torch.Tensor:
        """log p(target length = L | source) for L = 0 .. max_target_length: (batch, L_max + 1)."""
        logits = self.length_head(encoder_output.length_state)
        return torch.log_softmax(logits.float(), dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        length_labels: torch.Tensor | None = None,
        **kwargs,
    ) -> CMLMOutput:
        """Encode the source (input_ids, attention_mask), predict its target length, and decode
        the (masked) target (decoder_input_ids, decoder_attention_mask) when given.

        labels: (batch, T) int64 true tokens at the positions to predict, -100 elsewhere.
        length_labels: (batch,) int64 true target lengths (content tokens).
        """
        encoded = self.encode(input_ids, attention_mask)
        length_log_probs = self.predict_length(encoded)
        logits = None
        if decoder_input_ids is not None:
            logits = self.decode(
                decoder_input_ids,
                decoder_attention_mask,
                encoded.last_hidden_state,
                attention_mask,
            )
        loss = None
        if labels is not None and logits is not None:
            loss = nn.functional.cross_entropy(
                logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100
            )
        if length_labels is not None:
            length_loss = nn.functional.nll_loss(length_log_probs, length_labels)
            loss = length_loss if loss is None else loss + length_loss
        return CMLMOutput(
            loss=loss,
            logits=logits,
            length_log_probs=length_log_probs,
            encoder_last_hidden_state=encoded.last_hidden_state,
        )


def register() -> None:
    """Make `AutoConfig` / `AutoModel` know the "textebm-cmlm" model type (idempotent)."""
    AutoConfig.register(CMLMConfig.model_type, CMLMConfig, exist_ok=True)
    AutoModel.register(CMLMConfig, CMLMModel, exist_ok=True)


register()
