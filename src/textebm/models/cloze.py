"""The two-tower cloze model: q(x_t | x_{-t}) at every position in one pass (Electric's noise).

Two causal transformers (GPT-2 blocks, `transformers.GPT2Model`) read the sequence, one left to
right and one right to left. Position t is predicted from the left tower's state at t - 1 (which
has seen x_<t) and the right tower's state at t + 1 (which has seen x_>t), never from x_t itself:

    q(. | x_{-t}) = softmax(W LayerNorm(GELU(A [l_{t-1}; r_{t+1}] + a)) + b),

with learned boundary states standing in for l_{-1} and r_{T} at the two ends. Both towers run
once, so all T conditionals cost two causal passes, where a masked LM needs T masked copies.
This is the noise model of Electric's reference code (google-research/electra,
`electric_objective`), trained by maximum likelihood: `textebm train cloze`, or jointly inside
`textebm train electric`.

Padding must be on the right (as every textebm batch is): the right tower reads each row's real
tokens reversed, so padding never precedes a real token in either tower and no attention mask is
needed; causal attention alone keeps the towers blind to what lies ahead of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    GPT2Config,
    GPT2Model,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.utils import ModelOutput

from textebm.models.initialise import init_standard


class ClozeConfig(PretrainedConfig):
    """Size of the two towers (each a GPT-2 of `n_layer` blocks of width `n_embd`)."""

    model_type = "textebm-cloze"

    def __init__(
        self,
        vocab_size: int = 30522,
        n_positions: int = 128,
        n_embd: int = 64,
        n_layer: int = 2,
        n_head: int = 2,
        n_inner: int | None = None,
        dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        **kwargs,
    ) -> None:
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_inner = n_inner
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    def tower_config(self) -> GPT2Config:
        """The configuration each tower is built from."""
        return GPT2Config(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_inner=self.n_inner,
            resid_pdrop=self.dropout,
            embd_pdrop=self.dropout,
            attn_pdrop=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
            bos_token_id=None,  # the towers never generate; GPT-2's 50256 may not be a token here
            eos_token_id=None,
        )


@dataclass
class ClozeOutput(ModelOutput):
    """logits: (batch, length, vocab), position t's scores for x_t given every other token."""

    logits: torch.Tensor | None = None


def reverse_rows(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first `lengths[i]` entries reversed, the rest (padding) left in place.

    values: (batch, length, ...); lengths: (batch,) int64. The map is its own inverse.
    """
    positions = torch.arange(values.shape[1], device=values.device)
    index = torch.where(
        positions < lengths[:, None], lengths[:, None] - 1 - positions, positions
    )  # (batch, length)
    index = index.view(*index.shape, *([1] * (values.dim() - 2))).expand_as(values)
    return values.gather(1, index)


class ClozeModel(PreTrainedModel):
    """Left-to-right and right-to-left GPT-2 towers combined into q(x_t | x_{-t}).

    forward(input_ids, attention_mask=None) -> ClozeOutput with logits (batch, length, vocab).
    """

    config_class = ClozeConfig
    base_model_prefix = "cloze"

    def __init__(self, config: ClozeConfig) -> None:
        super().__init__(config)
        tower = config.tower_config()
        self.left = GPT2Model(tower)
        self.right = GPT2Model(tower)
        width = config.n_embd
        # States standing in for "nothing to the left of the first token / right of the last".
        self.left_start = nn.Parameter(torch.zeros(width))
        self.right_end = nn.Parameter(torch.zeros(width))
        self.combine = nn.Linear(2 * width, width)
        self.activation = nn.GELU()
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_epsilon)
        self.output = nn.Linear(width, config.vocab_size)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if init_standard(module, std):  # GPT-2's embeddings have no padding row to zero
            return
        if isinstance(module, ClozeModel):
            nn.init.normal_(module.left_start, mean=0.0, std=std)
            nn.init.normal_(module.right_end, mean=0.0, std=std)
        else:  # GPT-2's own modules (its Conv1D layers)
            super()._init_weights(module)

    def context_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(left, right), both (batch, length, width): left[:, t] has seen x_<t, right[:, t] x_>t.

        input_ids: (batch, length) int64, right-padded; attention_mask: (batch, length), 1 on real
        tokens (None: no padding).
        """
        batch, length = input_ids.shape
        if attention_mask is None:
            lengths = torch.full((batch,), length, device=input_ids.device)
        else:
            lengths = attention_mask.sum(1).long()
        forward = self.left(input_ids=input_ids).last_hidden_state  # (batch, length, width)
        backward = self.right(input_ids=reverse_rows(input_ids, lengths)).last_hidden_state
        backward = reverse_rows(backward, lengths)  # backward[:, t] has seen x_>=t
        start = self.left_start.to(forward.dtype).expand(batch, 1, -1)
        left = torch.cat([start, forward[:, :-1]], dim=1)
        end = self.right_end.to(backward.dtype).expand(batch, 1, -1)
        right = torch.cat([backward[:, 1:], end], dim=1)
        # A row's last real token has nothing to its right: the end state, not padding's state.
        last = (lengths - 1).clamp(min=0)
        right = right.clone()
        right[torch.arange(batch, device=right.device), last] = end[:, 0]
        return left, right

    def predict(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Logits (..., vocab) from the context states left, right: (..., width)."""
        hidden = self.combine(torch.cat([left, right], dim=-1))
        return self.output(self.norm(self.activation(hidden)))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> ClozeOutput:
        left, right = self.context_states(input_ids, attention_mask)
        return ClozeOutput(logits=self.predict(left, right))


AutoConfig.register(ClozeConfig.model_type, ClozeConfig, exist_ok=True)
AutoModel.register(ClozeConfig, ClozeModel, exist_ok=True)
