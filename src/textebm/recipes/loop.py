"""The training loop every recipe shares: Accelerate, checkpoints that resume exactly, metrics.

A recipe is an `Objective` (how to build the model, cut the corpus into examples, batch them and
compute the loss) composed with `train`, which does everything else. `train` never subclasses
anything and knows nothing about masking or shifting.

Exact resume rests on one rule: everything random or positional is a function of the step.
Micro-batch g (counted over the whole run and all processes) holds batch j of epoch e, with
`e, j = divmod(g, batches_per_epoch)`, and an epoch's batches are a permutation seeded by (seed, e)
(see `BatchOrder`); the micro-batch's masking and dropout draws are seeded by (seed, g). Step s,
on process r of W, takes micro-batches `(s * A + a) * W + r` for a < A (A the gradient
accumulation), so one process accumulating 2 micro-batches sees exactly the batches that two
processes see at one each, and a resumed run continues from step s with the very same batches.

The loss is token-weighted across micro-batches and processes: every forward returns the summed
loss of its targets, and the step's gradient is that sum over all of them divided by their total
number (an all-reduced count), i.e. the mean over the effective batch, whatever the padding.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, dataset_splits, load_corpus
from textebm.errors import UsageError
from textebm.recipes import checkpoint
from textebm.recipes.config import TrainConfig
from textebm.recipes.run_folder import MetricsLog, prepare_everywhere
from textebm.recipes.schedule import learning_rate

Batch = dict[str, torch.Tensor]


class Objective(Protocol):
    """What a recipe supplies to `train`."""

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

    def batch(
        self, examples: Any, indices: list[int], generator: torch.Generator
    ) -> tuple[Batch, int, int]:
        """(model inputs, number of loss targets, number of real tokens) for these examples."""

    def loss(self, model: PreTrainedModel, batch: Batch) -> torch.Tensor:
        """The loss summed over the batch's targets: a scalar float32 tensor."""

    def evaluate(
        self, model: PreTrainedModel, examples: Any, config: TrainConfig
    ) -> dict[str, float]:
        """Validation metrics (model in eval mode, no gradients), e.g. loss and perplexity."""


class _Loss(torch.nn.Module):
    """Puts the objective's loss inside `forward`, so DDP sees it and synchronises gradients."""

    def __init__(self, model: PreTrainedModel, objective: Objective) -> None:
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.objective.loss(self.model, batch)


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, well mixed so that nearby steps get unrelated streams."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BatchOrder:
    """Which examples micro-batch `index` of a run holds: a pure function of the seed and index.

    Epoch e is a permutation seeded by (seed, e), cut into batches (a last partial batch is
    dropped). With `lengths`, the permutation is first cut into pools of 64 batches, each pool is
    sorted by length before being cut, and the batches are shuffled again: batches of similar
    lengths waste less padding (`group_by_length` in transformers).
    """

    POOL = 64

    def __init__(
        self, n_examples: int, batch_size: int, seed: int, lengths: torch.Tensor | None = None
    ) -> None:
        self.batch_size, self.seed, self.lengths = batch_size, seed, lengths
        self.n_examples, self.per_epoch = n_examples, n_examples // batch_size
        self._epoch, self._batches = -1, torch.empty(0)

    def __call__(self, index: int) -> list[int]:
        epoch, j = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._batches = epoch, self._epoch_batches(epoch)
        return self._batches[j].tolist()

    def _epoch_batches(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
        order = torch.randperm(self.n_examples, generator=generator)
        order = order[: self.per_epoch * self.batch_size]
        if self.lengths is None:
            return order.view(self.per_epoch, self.batch_size)
        pools = order.split(self.POOL * self.batch_size)
        order = torch.cat(
            [
                pool[torch.argsort(self.lengths[pool], descending=True, stable=True)]
                for pool in pools
            ]
        )
        batches = order.view(self.per_epoch, self.batch_size)
        return batches[torch.randperm(self.per_epoch, generator=generator)]


def _corpora(config: TrainConfig) -> tuple[Documents, Documents | None]:
    """Training documents and, where there are any, validation documents."""
    train = load_corpus(config.corpus, config.dataset, config.split, config.text_column)
    if config.validation is not None:
        return train, load_corpus(config.validation, None, text_column=config.text_column)
    split = config.validation_split
    if (
        config.dataset is not None
        and split is None
        and "validation" in dataset_splits(config.dataset)
    ):
        split = "validation"
    if config.dataset is not None and split is not None:
        return train, load_corpus(None, config.dataset, split, config.text_column)
    return train, None


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and normalisation weights (the 1-d parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)


def _accelerator(config: TrainConfig):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    for attempt in range(2):
        try:
            # Without an accelerator, cpu=True is what makes Accelerate see a torchrun launch
            # as multi-process (gloo); otherwise each process would train alone.
            return Accelerator(
                mixed_precision=config.mixed_precision, cpu=not torch.accelerator.is_available()
            )
        except ValueError as error:  # e.g. fp16 on a CPU, bf16 where unsupported
            if "already been initialized" in str(error) and attempt == 0:
                # An earlier run in this process fixed another precision in Accelerate's
                # process-wide state; reset it (the distributed set-up is kept).
                AcceleratorState._reset_state()
                continue
            raise UsageError(f"--mixed-precision {config.mixed_precision}: {error}") from None
    raise AssertionError("unreachable")


def train(config: TrainConfig, objective: Objective, stop_after: int | None = None) -> Path:
    """Train `objective` as `config` says; return the output folder, which holds the final model.

    Resumes from the newest checkpoint in `config.output` when its configuration matches.
    stop_after: stop after this step without finishing, as an interrupted run would (tests and
        time-boxed sessions); running again with the same configuration continues.
    """
    from tqdm.auto import tqdm

    from textebm.data.tokenizers import load_tokenizer_folder

    accelerator = _accelerator(config)
    output, main = Path(config.output), accelerator.is_main_process
    # Everything that can fail on bad input runs before the output folder is touched.
    tokenizer = load_tokenizer_folder(config.tokenizer or config.init_from)
    objective.check_tokenizer(tokenizer)
    train_documents, validation_documents = _corpora(config)
    train_set = objective.examples(train_documents, tokenizer, config, train=True)
    validation_set = None
    if validation_documents is not None:
        validation_set = objective.examples(validation_documents, tokenizer, config, train=False)
    if len(train_set) < config.batch_size:
        raise UsageError(
            f"the corpus gives {len(train_set)} training examples, fewer than "
            f"--batch-size {config.batch_size}"
        )
    prepare_everywhere(config, accelerator)

    torch.manual_seed(config.seed)  # model initialisation
    model = objective.build_model(config, tokenizer)
    model.train()
    optimizer = _optimizer(model.to(accelerator.device), config)
    world, rank = accelerator.num_processes, accelerator.process_index
    start, trained_minutes = 0, 0.0
    resume_from = checkpoint.latest_checkpoint(output)
    if resume_from is not None:
        state = checkpoint.read_state(resume_from)
        if state.get("recipe") != objective.name or state.get("processes") != world:
            raise UsageError(
                f"{output} holds a {state.get('recipe')} run on {state.get('processes')} "
                f"processes, not {objective.name} on {world}; pass --overwrite or match them"
            )
        checkpoint.load_checkpoint(resume_from, model, optimizer)
        start = state["step"]
        trained_minutes = state.get("minutes", 0.0)
    metrics = MetricsLog(output / "metrics.jsonl", enabled=main)
    metrics.truncate(start)
    accelerator.wait_for_everyone()
    loss_module: torch.nn.Module = _Loss(model, objective)
    if config.compile:
        # The compiled wrapper shares `model`'s parameters, so checkpoints, evaluation and
        # save_pretrained keep working on the eager model.
        loss_module = torch.compile(loss_module)
    module, optimizer = accelerator.prepare(loss_module, optimizer)

    def evaluate(step: int) -> None:
        if validation_set is not None and main:
            model.eval()
            with torch.no_grad(), accelerator.autocast():
                results = objective.evaluate(model, validation_set, config)
            metrics.write({"step": step, "split": "validation", **results})
            model.train()
        accelerator.wait_for_everyone()

    def save(step: int) -> None:
        trained = minutes()  # on every process: it is a collective
        if main:
            checkpoint.save_checkpoint(
                output,
                step,
                model,
                optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer,
                {"recipe": objective.name, "processes": world, "minutes": trained},
                keep=config.keep_checkpoints,
            )
        accelerator.wait_for_everyone()

    bar = tqdm(
        total=config.max_steps,
        initial=start,
        unit="step",
        dynamic_ncols=True,
        disable=bool(os.environ.get("CI")) or not main,
        desc=f"train {objective.name}",
    )
    window_loss = torch.zeros((), device=accelerator.device)
    window_targets, window_tokens, window_seconds = 0, 0, 0.0
    accumulation = config.grad_accumulation
    lengths = None
    if config.group_by_length:
        lengths = torch.tensor([len(example) for example in train_set])
    order = BatchOrder(len(train_set), config.batch_size, config.seed, lengths)
    last, finished = start, False
    clock = time.perf_counter()

    def minutes() -> float:
        """Wall minutes trained, over resumes; the slowest process's, so that all agree."""
        elapsed = torch.tensor(trained_minutes + (time.perf_counter() - clock) / 60)
        return float(accelerator.reduce(elapsed.to(accelerator.device), reduction="max"))

    for step in range(start, config.max_steps):
        rate = learning_rate(config, step, minutes() if config.time_budget else None)
        step_start = time.perf_counter()
        micro = [(step * accumulation + a) * world + rank for a in range(accumulation)]
        batches = []
        for index in micro:
            indices = order(index)
            generator = torch.Generator().manual_seed(derive_seed(config.seed, "batch", index))
            batches.append(objective.batch(train_set, indices, generator))
        counts = torch.tensor(
            [sum(b[1] for b in batches), sum(b[2] for b in batches)], device=accelerator.device
        )
        targets, tokens = (int(c) for c in accelerator.reduce(counts, reduction="sum"))
        for a, (index, (batch, _, _)) in enumerate(zip(micro, batches, strict=True)):
            torch.manual_seed(derive_seed(config.seed, "dropout", index))
            sync = a == accumulation - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(module):
                loss = module(**{k: v.to(accelerator.device) for k, v in batch.items()})
                # DDP averages gradients over processes: scale so that they sum instead.
                accelerator.backward(loss * world / max(targets, 1))
            window_loss += loss.detach()
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(module.parameters(), config.max_grad_norm)
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window_seconds += time.perf_counter() - step_start  # training only, not eval or saving
        window_targets += targets
        window_tokens += tokens
        done = last = step + 1
        bar.update(1)
        finished = done == config.max_steps or (
            config.time_budget > 0 and minutes() >= config.time_budget
        )

        if done % config.log_every == 0 or finished:
            total = float(accelerator.reduce(window_loss, reduction="sum"))
            record = {
                "step": done,
                "split": "train",
                "loss": total / max(window_targets, 1),
                "learning_rate": rate,
                "tokens": window_tokens,
                "tokens_per_second": window_tokens / window_seconds,
            }
            if config.time_budget:
                record["minutes"] = minutes()
            metrics.write(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            window_loss.zero_()
            window_targets, window_tokens, window_seconds = 0, 0, 0.0
        if (config.eval_every and done % config.eval_every == 0) or finished:
            evaluate(done)
        if (config.checkpoint_every and done % config.checkpoint_every == 0) or finished:
            save(done)
        if finished or (stop_after is not None and done >= stop_after):
            break
    bar.close()
    if (finished or last == config.max_steps) and main:
        model.save_pretrained(output)
        tokenizer.save_pretrained(output)
    accelerator.wait_for_everyone()
    return output
