"""What a training method hands to the one loop (`textebm.recipes.loop.train`): an `Objective`.

An objective declares
- its models: the one it trains (`build_model`, saved to `--output`) and, optionally, auxiliary
  ones (`auxiliary_models`), each either frozen (e.g. a noise model loaded from a folder: eval
  mode, no gradients, never in the optimiser) or trained jointly (in the optimiser and every
  checkpoint, resumed exactly, saved with `save_pretrained` in `--output/<name>/`);
- its data: `examples` cuts documents into examples, `batch` collates some of them on the CPU
  into a `Batch` (any tensors, nested in dicts, lists or tuples: labels, sentence pairs, source
  and target, a 4-D attention mask with position ids) with a seeded generator;
- optionally, `prepare`: a seeded, model-aware step on the training device, under `no_grad` with
  every model in eval mode, e.g. noise drawn from a noise model or sequences sampled from the
  model being trained; its generator is seeded from (seed, micro-batch index), so a killed run
  resumes on the same loss curve;
- optionally, state that changes as it trains (e.g. a replay buffer of sequences sampled from the
  model): `on_step` runs at the start of every optimizer step, on every process, and may change
  it; `state_dict` / `load_state_dict` put it in every checkpoint (tensors only, identical on
  every process), so that a resumed run continues exactly;
- its loss as named terms (`loss` returns {name: sum over the term's units}), each normalised by
  its own count (`Batch.counts[name]`: tokens for one term, sequences for another) summed over the
  whole effective batch. The step minimises the sum of the normalised terms; each is logged under
  its name in `metrics.jsonl`, their sum under "loss". A one-term objective names its term "loss".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents
from textebm.recipes.config import TrainConfig

# Names an auxiliary model cannot take: its subfolder and checkpoint file would collide.
RESERVED = frozenset({"main", "model", "checkpoints", "optimizer"})


@dataclass
class Batch:
    """One micro-batch. inputs: what `loss` receives (tensors, possibly nested); counts: the
    normaliser of each loss term in this micro-batch (e.g. {"loss": masked tokens}); tokens: real
    tokens processed, for throughput."""

    inputs: dict[str, Any]
    counts: dict[str, int]
    tokens: int


@dataclass
class Auxiliary:
    """A model beside the trained one. trained=False: frozen; trained=True: trained jointly."""

    model: PreTrainedModel
    trained: bool = False


@dataclass
class Models:
    """The models of a run: `main` (the trained model) and the auxiliary ones by name."""

    main: PreTrainedModel
    auxiliary: dict[str, Auxiliary] = field(default_factory=dict)

    def __getitem__(self, name: str) -> PreTrainedModel:
        return self.main if name == "main" else self.auxiliary[name].model

    def trained(self) -> dict[str, PreTrainedModel]:
        """Every model the optimiser updates, "main" first, in a fixed order."""
        extra = {name: a.model for name, a in self.auxiliary.items() if a.trained}
        return {"main": self.main, **extra}

    def frozen(self) -> dict[str, PreTrainedModel]:
        return {name: a.model for name, a in self.auxiliary.items() if not a.trained}

    def train(self, mode: bool = True) -> None:
        """Trained models to training (or eval) mode; frozen ones stay in eval mode."""
        for model in self.trained().values():
            model.train(mode)


@dataclass
class StepContext:
    """What `on_step` may use of the run: rank r of `world` processes, the training device, and
    `gather`, which every process must call together: it returns the list of every process's
    argument (any picklable object), in rank order (`[value]` on one process)."""

    rank: int
    world: int
    device: torch.device
    gather: Callable[[Any], list[Any]]


def to_device(value: Any, device: torch.device) -> Any:
    """`value` with every tensor in it (nested in dicts, lists, tuples) moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


class Objective(Protocol):
    """What a recipe supplies to `train` (see the module notes).

    Optional methods, which the loop calls when present:
        auxiliary_models(config, tokenizer) -> dict[str, Auxiliary]: built after `build_model`,
            with the global RNG still following the seed; names must be identifiers, not RESERVED.
        prepare(models, batch, generator) -> Batch: `batch` already on the training device;
            `generator` a torch.Generator on that device.
        on_step(models, step, context: StepContext) -> dict[str, float] | None: at the start of
            each step (inside its timing), under `no_grad` with every model in eval mode, before
            that step's `batch` calls; what it returns joins the next train record in
            metrics.jsonl (e.g. {"buffer_size": 64}), so it must not reuse a loss term's name.
        state_dict() -> dict[str, torch.Tensor] and load_state_dict(state): the objective's own
            state, saved with each checkpoint (the main process's, so it must be the same on
            every process) and loaded on every process when a run resumes.
    """

    name: str  # e.g. "mlm"; recorded in checkpoints so that a run never resumes another recipe

    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Raise UsageError if the tokenizer lacks a special token the objective needs."""

    def build_model(
        self, config: TrainConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        """A fresh model (global RNG already seeded) or one loaded from `config.init_from`."""

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: TrainConfig,
        train: bool,
    ) -> Any:
        """Tokenised training or validation examples: anything with `len` that `batch` indexes."""

    def batch(self, examples: Any, indices: list[int], generator: torch.Generator) -> Batch:
        """These examples collated (on the CPU), with their counts."""

    def loss(self, models: Models, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each term summed over its units (float32 scalars), named as in `Batch.counts`."""

    def evaluate(self, models: Models, examples: Any, config: TrainConfig) -> dict[str, float]:
        """Validation metrics (models in eval mode, no gradients), e.g. loss and perplexity."""
