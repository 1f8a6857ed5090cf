"""The training loop every recipe shares: Accelerate, checkpoints that resume exactly, metrics.

A recipe is an `Objective` (`textebm.recipes.objective`: its models, how to cut the corpus into
examples, batch and prepare them, and its named loss terms) composed with `train`, which does
everything else. `train` never subclasses anything and knows nothing about masking or shifting.

Exact resume rests on one rule: everything random or positional is a function of the step.
Micro-batch g (counted over the whole run and all processes) holds batch j of epoch e, with
`e, j = divmod(g, batches_per_epoch)`, and an epoch's batches are a permutation seeded by (seed, e)
(see `BatchOrder`); the micro-batch's masking, preparation (e.g. noise drawn from a model) and
dropout draws are seeded by (seed, g). Step s,
on process r of W, takes micro-batches `(s * A + a) * W + r` for a < A (A the gradient
accumulation), so one process accumulating 2 micro-batches sees exactly the batches that two
processes see at one each, and a resumed run continues from step s with the very same batches.

Each loss term is weighted by its units across micro-batches and processes: every forward returns
each term summed over its units (tokens, sequences), and the step's gradient is, term by term,
that sum over all of them divided by their total number (an all-reduced count), i.e. the mean
over the effective batch, whatever the padding or the cut into micro-batches.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import torch
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.corpus import Documents, dataset_splits, load_corpus
from textebm.errors import UsageError
from textebm.models.saving import no_save_progress
from textebm.recipes import checkpoint
from textebm.recipes.config import TrainConfig, resolve_mixed_precision
from textebm.recipes.objective import (
    RESERVED,
    Auxiliary,
    Batch,
    Models,
    Objective,
    StepContext,
    to_device,
)
from textebm.recipes.order import BatchOrder, derive_seed
from textebm.recipes.run_folder import MetricsLog, prepare_everywhere
from textebm.recipes.schedule import learning_rate
from textebm.recipes.term_window import TermWindow

# Re-exported: recipes and tests import these from the loop.
__all__ = ["Batch", "BatchOrder", "Models", "Objective", "derive_seed", "learning_rate", "train"]


class _Loss(torch.nn.Module):
    """Puts the objective's loss inside `forward`, so DDP sees it and synchronises gradients.

    Only the trained models are submodules (so only they are in DDP's care); frozen ones are
    reached through `models`, outside the module tree.
    """

    def __init__(self, models: Models, objective: Objective) -> None:
        super().__init__()
        self.trained = torch.nn.ModuleDict(models.trained())
        self.models, self.objective = models, objective

    def forward(self, **inputs: Any) -> dict[str, torch.Tensor]:
        return self.objective.loss(self.models, inputs)


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


def _optimizer(models: dict[str, torch.nn.Module], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trained models; no weight decay on biases and normalisation weights (the
    1-d parameters)."""
    parameters = [p for model in models.values() for p in model.parameters() if p.requires_grad]
    decay = [p for p in parameters if p.ndim >= 2]
    rest = [p for p in parameters if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = parameters[0].device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=config.learning_rate, fused=fused)


def _run_tokenizer(name: str):
    """The run's tokenizer: from a local folder (the usual case; paths are absolute by now), or
    from a hub id, which only the classifier's --init-from keeps (through `load_tokenizer`, which
    goes offline fast and fails in one line when the hub cannot be reached)."""
    from textebm.data.tokenizers import load_tokenizer_folder

    if os.path.isabs(name):
        return load_tokenizer_folder(name)
    from textebm.models.loading import load_tokenizer

    return load_tokenizer(name)


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


def _build_models(
    objective: Objective, config: TrainConfig, tokenizer: PreTrainedTokenizerBase, device
) -> Models:
    """The objective's models on `device`: trained ones in training mode, frozen ones in eval
    mode with gradients off."""
    torch.manual_seed(config.seed)  # model initialisation
    models = Models(objective.build_model(config, tokenizer))
    build = getattr(objective, "auxiliary_models", None)
    models.auxiliary = dict(build(config, tokenizer)) if build is not None else {}
    for name, auxiliary in models.auxiliary.items():
        if not name.isidentifier() or name in RESERVED or not isinstance(auxiliary, Auxiliary):
            raise ValueError(f"auxiliary model {name!r}: an identifier not in {sorted(RESERVED)}")
        if not auxiliary.trained:
            auxiliary.model.eval().requires_grad_(False)
    for model in (*models.trained().values(), *models.frozen().values()):
        model.to(device)
    models.train()
    return models


def _gather(accelerator, value: Any) -> list[Any]:
    """Every process's `value`, in rank order (a collective)."""
    if accelerator.num_processes == 1:
        return [value]
    from accelerate.utils import gather_object

    return gather_object([value])


def train(config: TrainConfig, objective: Objective, stop_after: int | None = None) -> Path:
    """Train `objective` as `config` says; return the output folder, which holds the final model
    (and each jointly trained auxiliary model in its own subfolder).

    Resumes from the newest intact checkpoint in `config.output` when its configuration matches.
    The folder is locked for the run: a second run on it stops with a one-line error.
    stop_after: stop after this step without finishing, as an interrupted run would (tests and
        time-boxed sessions); running again with the same configuration continues.
    """
    with contextlib.ExitStack() as held:  # the output folder's lock, released however we leave
        return _train(config, objective, stop_after, held)


def _train(
    config: TrainConfig, objective: Objective, stop_after: int | None, held: contextlib.ExitStack
) -> Path:
    from tqdm.auto import tqdm

    from textebm.hardware import machine_record

    config = resolve_mixed_precision(config)  # 'auto': trained, saved and compared as resolved
    accelerator = _accelerator(config)
    output, main = Path(config.output), accelerator.is_main_process
    device = accelerator.device
    # Everything that can fail on bad input runs before the output folder is touched.
    tokenizer = _run_tokenizer(config.tokenizer or config.init_from)
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
    # Built before the folder is claimed: a model that fails to load (a wrong --init-from or
    # --noise) must not leave a train_config.json that refuses the corrected command.
    models = _build_models(objective, config, tokenizer, device)
    held.enter_context(prepare_everywhere(config, accelerator))

    model, trained = models.main, models.trained()
    extra = {name: m for name, m in trained.items() if name != "main"}
    optimizer = _optimizer(trained, config)
    world, rank = accelerator.num_processes, accelerator.process_index
    start, trained_minutes, trained_tokens = 0, 0.0, 0

    def same_run(state: dict[str, Any]) -> None:
        if state.get("recipe") != objective.name or state.get("processes") != world:
            raise UsageError(
                f"{output} holds a {state.get('recipe')} run on {state.get('processes')} "
                f"processes, not {objective.name} on {world}; pass --overwrite or match them"
            )

    state_of = getattr(objective, "state_dict", None)
    load_objective = getattr(objective, "load_state_dict", None)
    restored = checkpoint.restore(
        output, model, optimizer, extra, check=same_run, warn=main, load_objective=load_objective
    )
    if restored is not None:
        resume_from, state = restored
        start = state["step"]
        trained_minutes = state.get("minutes", 0.0)
        trained_tokens = checkpoint.trained_tokens(resume_from, output / "metrics.jsonl")
    metrics = MetricsLog(output / "metrics.jsonl", enabled=main)
    metrics.truncate(start)
    if main and start < config.max_steps:  # once a session, before the clock starts
        machine = machine_record(accelerator.device, accelerator.mixed_precision)
        sessions = MetricsLog(output / "sessions.jsonl", enabled=True)
        sessions.write({"step": start, "tokens_trained": trained_tokens, **machine})
    accelerator.wait_for_everyone()
    loss_module: torch.nn.Module = _Loss(models, objective)
    if config.compile:
        # The compiled wrapper shares the models' parameters, so checkpoints, evaluation and
        # save_pretrained keep working on the eager models.
        loss_module = torch.compile(loss_module)
    module, optimizer = accelerator.prepare(loss_module, optimizer)
    prepare = getattr(objective, "prepare", None)
    on_step = getattr(objective, "on_step", None)
    context = StepContext(rank, world, device, lambda value: _gather(accelerator, value))

    def evaluate(step: int) -> None:
        if validation_set is not None and main:
            models.train(False)
            with torch.no_grad(), accelerator.autocast():
                results = objective.evaluate(models, validation_set, config)
            record = {"step": step, "split": "validation", "tokens_trained": trained_tokens}
            metrics.write({**record, **results})
            models.train()
        accelerator.wait_for_everyone()

    def save(step: int) -> None:
        trained = minutes()  # on every process: it is a collective
        if main:
            checkpoint.save_checkpoint(
                output,
                step,
                model,
                optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer,
                {
                    "recipe": objective.name,
                    "processes": world,
                    "minutes": trained,
                    "tokens": trained_tokens,
                },
                keep=config.keep_checkpoints,
                extra=extra,
                objective_state=state_of() if state_of is not None else None,
            )
        accelerator.wait_for_everyone()

    def micro_batch(index: int) -> Batch:
        """Micro-batch `index` of the run, collated, on the device, prepared: all seeded by it."""
        generator = torch.Generator().manual_seed(derive_seed(config.seed, "batch", index))
        batch = objective.batch(train_set, order(index), generator)
        batch.inputs = to_device(batch.inputs, device)
        if prepare is None:
            return batch
        generator = torch.Generator(device=device)
        generator.manual_seed(derive_seed(config.seed, "prepare", index))
        models.train(False)  # samples from the models as they are, without dropout
        with torch.no_grad(), accelerator.autocast():
            batch = prepare(models, batch, generator)
        models.train()
        return batch

    bar = tqdm(
        total=config.max_steps,
        initial=start,
        unit="step",
        dynamic_ncols=True,
        disable=bool(os.environ.get("CI")) or not main,
        desc=f"train {objective.name}",
    )
    window = TermWindow(device)
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
        return float(accelerator.reduce(elapsed.to(device), reduction="max"))

    for step in range(start, config.max_steps):
        rate = learning_rate(config, step, minutes() if config.time_budget else None)
        step_start = time.perf_counter()
        if on_step is not None:  # e.g. refresh a replay buffer: counted as training time
            models.train(False)
            with torch.no_grad(), accelerator.autocast():
                window.gauges.update(on_step(models, step, context) or {})
            models.train()
        micro = [(step * accumulation + a) * world + rank for a in range(accumulation)]
        batches = [micro_batch(index) for index in micro]
        names = sorted(batches[0].counts)
        counts = torch.tensor(
            [*(sum(b.counts[n] for b in batches) for n in names), sum(b.tokens for b in batches)],
            device=device,
        )
        *totals, tokens = (int(c) for c in accelerator.reduce(counts, reduction="sum"))
        normaliser = dict(zip(names, totals, strict=True))
        for a, (index, batch) in enumerate(zip(micro, batches, strict=True)):
            torch.manual_seed(derive_seed(config.seed, "dropout", index))
            sync = a == accumulation - 1
            with contextlib.nullcontext() if sync else accelerator.no_sync(module):
                terms = module(**batch.inputs)
                if sorted(terms) != names:
                    raise ValueError(f"loss terms {sorted(terms)} but batch counts {names}")
                # DDP averages gradients over processes: scale so that they sum instead.
                accelerator.backward(sum(terms[n] * world / max(normaliser[n], 1) for n in names))
            window.add(terms)
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(module.parameters(), config.max_grad_norm)
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window.seconds += time.perf_counter() - step_start  # training only, not eval or saving
        window.count(normaliser, tokens)
        trained_tokens += tokens
        done = last = step + 1
        bar.update(1)
        finished = done == config.max_steps or (
            config.time_budget > 0 and minutes() >= config.time_budget
        )

        if done % config.log_every == 0 or finished:
            record = {"step": done, "split": "train", **window.record(accelerator)}
            record["learning_rate"] = rate
            record["tokens_trained"] = trained_tokens
            if config.time_budget:
                record["minutes"] = minutes()
            metrics.write(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}")
        if (config.eval_every and done % config.eval_every == 0) or finished:
            evaluate(done)
        if (config.checkpoint_every and done % config.checkpoint_every == 0) or finished:
            save(done)
        if finished or (stop_after is not None and done >= stop_after):
            break
    bar.close()
    if (finished or last == config.max_steps) and main:
        with no_save_progress():  # the loop reports for itself
            model.save_pretrained(output)
            tokenizer.save_pretrained(output)
            for name, auxiliary in extra.items():
                auxiliary.save_pretrained(output / name)
    accelerator.wait_for_everyone()
    return output
