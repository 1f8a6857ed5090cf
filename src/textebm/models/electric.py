"""Electric (Clark, Luong, Le and Manning, EMNLP 2020): an energy-based cloze model.

A bidirectional BERT-style encoder reads the *unmasked* sequence x and a linear head gives every
token a scalar energy

    E(x)_t = w^T h(x)_t + b,        p_hat(x_t | x without t) = exp(-E(x)_t)

so one pass scores every position, where pseudo-log-likelihood needs one masked copy per token.
The partition function over the vocabulary is never computed: noise-contrastive training
(`objectives/`) makes exp(-E(x)_t) approximately self-normalised, and the bias b is the part of
the per-token normaliser that does not depend on the context.

`ElectricConfig` / `ElectricModel` are ordinary Hugging Face classes registered with `AutoConfig`
and `AutoModel` (model type "electric") when this module is imported, which importing `textebm`
arranges as soon as transformers is (`textebm.auto_registration`), so `save_pretrained`
and `AutoModel.from_pretrained(folder)` work as for any model; weights are saved as safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, BertConfig, BertModel, PreTrainedModel
from transformers.models.bert.modeling_bert import BertPreTrainedModel
from transformers.utils import ModelOutput


class ElectricConfig(BertConfig):
    """A BERT encoder's settings (every `BertConfig` field) for an Electric model.

    The encoder is bidirectional and has no output embeddings, so `is_decoder` and
    `tie_word_embeddings` are forced off.
    """

    model_type = "electric"

    def __post_init__(self, **kwargs) -> None:
        self.is_decoder = False
        self.add_cross_attention = False
        self.tie_word_embeddings = False
        self.use_cache = False
        super().__post_init__(**kwargs)


@dataclass
class ElectricOutput(ModelOutput):
    """What `ElectricModel.forward` returns.

    energies: (batch, length) float, E(x)_t at every position, special tokens and padding
        included (callers pick the positions they score).
    last_hidden_state: (batch, length, hidden_size), h(x)_t, the energy head's input.
    hidden_states: the embeddings' and every layer's output, when `output_hidden_states=True`.
    """

    energies: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class ElectricModel(BertPreTrainedModel):
    """A BERT encoder (no pooler) plus a linear energy head on every token.

    Subclasses `BertPreTrainedModel` for BERT's initialisation, attention implementations
    (eager, sdpa, flash) and output recording; `config_class` makes it load as "electric".
    """

    config_class = ElectricConfig
    config: ElectricConfig

    def __init__(self, config: ElectricConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.energy_head = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.bert.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.bert.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> ElectricOutput:
        """Per-token energies of (unmasked) sequences.

        input_ids: (batch, length) int64; attention_mask: (batch, length), 1 = real token.
        Returns an `ElectricOutput` with energies (batch, length).
        """
        if output_hidden_states:
            kwargs["output_hidden_states"] = True
        encoded = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        hidden = encoded.last_hidden_state
        return ElectricOutput(
            energies=self.energy_head(hidden).squeeze(-1),
            last_hidden_state=hidden,
            hidden_states=encoded.hidden_states if output_hidden_states else None,
        )

    @classmethod
    def from_encoder(
        cls, encoder: str | Path | PreTrainedModel, seed: int | None = None
    ) -> ElectricModel:
        """An Electric model whose encoder is a copy of an existing BERT-style encoder.

        encoder: a folder or hub id loadable by `AutoModel.from_pretrained` (a BERT, or the
            encoder of a BERT masked LM, e.g. MiniLM), or such a model in memory (a `BertModel`
            or a model with a `.bert` one, e.g. `BertForMaskedLM`).
        seed: seeds the fresh energy head's initialisation (drawn from the global RNG, which is
            restored afterwards); None draws it from the global RNG as it stands.
        The encoder's weights are copied (the given model is not shared); its pooler, if any,
        is dropped. Raises ValueError for an encoder that is not BERT-shaped.
        """
        if isinstance(encoder, (str, Path)):
            encoder = AutoModel.from_pretrained(str(encoder))
        bert = getattr(encoder, "bert", encoder)
        if not isinstance(bert, BertModel):
            raise ValueError(
                f"from_encoder needs a BERT-style encoder (BertModel), not {type(bert).__name__}"
            )
        settings = bert.config.to_dict()
        for key in ("model_type", "architectures", "transformers_version", "auto_map"):
            settings.pop(key, None)
        config = ElectricConfig(**settings)
        with torch.random.fork_rng(enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            model = cls(config)
        state = {k: v for k, v in bert.state_dict().items() if not k.startswith("pooler.")}
        missing, unexpected = model.bert.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"the encoder's weights do not fit a BERT of its own config: missing {missing}, "
                f"unexpected {unexpected}"
            )
        return model.to(next(bert.parameters()).dtype)


def register() -> None:
    """Make `AutoConfig` / `AutoModel` know the "electric" model type (idempotent)."""
    AutoConfig.register(ElectricConfig.model_type, ElectricConfig, exist_ok=True)
    AutoModel.register(ElectricConfig, ElectricModel, exist_ok=True)


register()
