"""A stand-in for `textebm.models.electric` (built in parallel on another branch) with its
contract: `ElectricConfig` (a `BertConfig`, model type "electric"), `ElectricModel` (a BERT
encoder plus a linear energy head; forward(input_ids, attention_mask).energies: (batch, length))
and `ElectricModel.from_encoder(folder)`. The recipe tests install it as
`textebm.models.electric` only where the real module is missing; once it lands, delete this file
and the fixture that installs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, BertConfig, BertModel
from transformers.models.bert.modeling_bert import BertPreTrainedModel
from transformers.utils import ModelOutput


class ElectricConfig(BertConfig):
    model_type = "electric"


@dataclass
class ElectricOutput(ModelOutput):
    energies: torch.Tensor | None = None


class ElectricModel(BertPreTrainedModel):
    config_class = ElectricConfig

    def __init__(self, config: ElectricConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.energy_head = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, **kwargs) -> ElectricOutput:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return ElectricOutput(energies=self.energy_head(hidden).squeeze(-1))

    @classmethod
    def from_encoder(cls, encoder, seed=None) -> ElectricModel:
        encoder = AutoModel.from_pretrained(str(encoder))
        bert = getattr(encoder, "bert", encoder)
        if not isinstance(bert, BertModel):
            raise ValueError(f"from_encoder needs a BertModel, not {type(bert).__name__}")
        settings = bert.config.to_dict()
        for key in ("model_type", "architectures", "transformers_version"):
            settings.pop(key, None)
        model = cls(ElectricConfig(**settings))
        state = {k: v for k, v in bert.state_dict().items() if not k.startswith("pooler.")}
        model.bert.load_state_dict(state)
        return model


AutoConfig.register("electric", ElectricConfig, exist_ok=True)
AutoModel.register(ElectricConfig, ElectricModel, exist_ok=True)
