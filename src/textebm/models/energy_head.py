"""The scalar energy head of a classifier: E(x) from the encoder's [CLS] vector h.

As in He et al. (2021): dropout, dense (hidden -> hidden), tanh, dropout, linear to 1. It is a
small `PreTrainedModel` of its own, so the classifier stays a plain
`AutoModelForSequenceClassification` folder and the head is saved beside it, in the subfolder
`energy_head/` (config.json + model.safetensors), loaded with `EnergyHead.from_pretrained`.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

# The subfolder of a classifier folder that holds its scalar energy head.
HEAD_FOLDER = "energy_head"


class EnergyHeadConfig(PretrainedConfig):
    """hidden_size: width of h; dropout: both dropout layers' probability."""

    model_type = "textebm-energy-head"

    def __init__(
        self,
        hidden_size: int = 768,
        dropout: float = 0.1,
        initializer_range: float = 0.02,
        **kwargs,
    ) -> None:
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.initializer_range = initializer_range
        super().__init__(**kwargs)


class EnergyHead(PreTrainedModel):
    """h (batch, hidden_size) -> E(x) (batch,)."""

    config_class = EnergyHeadConfig
    base_model_prefix = "energy_head"

    def __init__(self, config: EnergyHeadConfig) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.dropout)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: (batch, hidden_size) float, the [CLS] vectors. Returns (batch,) energies."""
        x = torch.tanh(self.dense(self.dropout(hidden)))
        return self.out(self.dropout(x)).squeeze(-1)
