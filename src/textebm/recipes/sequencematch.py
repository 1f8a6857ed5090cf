"""SequenceMatch recipe (Cundy & Ermon 2024): `textebm train sequencematch --init-from DIR`, or
`train_sequencematch(SequenceMatchConfig(...))`. The losses and their maths:
`textebm.objectives.sequencematch`.

**Examples.** Every non-blank corpus line is one trajectory: a prompt (the initial state, never
imitated) and a continuation (the expert's actions, eos included). A line `PROMPT<TAB>ANSWER`
splits at the tab (the arithmetic task: question, answer); any other line gives `bos` plus its
first `--prompt-tokens` tokens as the prompt (at least one token stays in the continuation).
Both read `bos ids` as `textebm generate` writes its prompts. A trajectory longer than
`--context-length` tokens keeps its start and counts as not ended (no absorbing tail).

**A step.** With probability `--noise-rate` before each continuation token a wrong token and
`<bkspc>` are inserted (`data.backspace_noise`; the wrong token is never imitated, the backspace
is). During the first `--bc-warmup-steps` steps the loss is behavioural cloning alone (per-token
maximum likelihood of the imitated actions, over the vocabulary and `<bkspc>`), so a run with
warm-up >= max steps is MLE (with noise: MLE + `<bkspc>`). After it the loss is
alpha * BC + (1 - alpha) * SM, alpha = `--bc-weight`, SM the chi^2-mixture loss (`--phi chi2`,
whose model terms use sequences from the replay buffer) or the f-divergence form on the data
(`identity`, `kl`). Logged terms are as weighted in the loss (their sum is "loss"); validation
reports the unweighted BC loss and perplexity on noise-free data. Data and buffer sequences go
through the model in ONE forward pass (`data.actions.layout_actions`); `<bkspc>` is masked in
every state where only the prompt is live, as generation masks it.

**Replay buffer.** At the end of the warm-up and every `--sample-every` steps after it (only when
the batches take buffer sequences), `--samples-per-refresh` prompts of random training examples
are continued by the current model with backspaces (`samplers.generate`), in chunks of
`--batch-size`; chunk k is sampled by process k mod W from a CPU generator seeded by
(seed, step, k), and the chunks are gathered in order, so every process holds the same buffer
and the samples do not depend on the number of processes. The buffer is in every checkpoint
(`objective.safetensors`), so a resumed run continues on the same curve.

**Cost.** A batch's `tokens` are those of its original data sequences (prompt and continuation,
eos included; not the noise, backspaces or model samples), so `tokens_per_second` in
metrics.jsonl is data tokens per second of training, sampling included: the figure to compare
with the causal-LM recipe's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.actions import layout_actions
from textebm.data.backspace_noise import NoisyActions, model_noise, ordinary_ids, uniform_noise
from textebm.data.corpus import Documents, lines_of
from textebm.energies.causal_lm import causal_specials
from textebm.errors import UsageError
from textebm.models.backspace import add_backspace_row, add_backspace_token, backspace_id
from textebm.objectives.sequencematch import (
    behavioural_cloning_loss,
    f_divergence_loss,
    read_steps,
    sequencematch_chi2_loss,
    sequencematch_units,
)
from textebm.recipes.init import check_causal_lm, load_init, positions
from textebm.recipes.loop import Batch, Models, derive_seed, train
from textebm.recipes.objective import StepContext
from textebm.recipes.replay_buffer import ReplayBuffer, Sample
from textebm.recipes.sequencematch_config import SequenceMatchConfig
from textebm.samplers.generate import generate


@dataclass(frozen=True)
class Example:
    """One data trajectory: prompt ids (bos first), continuation ids (eos last when ended)."""

    prompt: list[int]
    continuation: list[int]
    ended: bool

    def __len__(self) -> int:
        return len(self.prompt) + len(self.continuation)


class SequenceMatch:
    """The `Objective` of SequenceMatch fine-tuning (see the module notes)."""

    name = "sequencematch"

    def __init__(self, config: SequenceMatchConfig) -> None:
        self.config = config
        self.buffer = ReplayBuffer(config.buffer_size)
        self.step = 0
        self.train_examples: list[Example] = []
        self.gamma = config.gamma  # None: set from the training examples (`default_gamma`)

    # -- setup ------------------------------------------------------------------------------
    def check_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if tokenizer.eos_token_id is None:
            raise UsageError("the tokenizer has no eos token, which ends every trajectory")
        self.bos_id, self.eos_id = causal_specials(tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        # The tokenizer gains <bkspc> now (the loop saves it with the model); the model its row
        # in `build_model`, initialised from the `known` rows.
        self.had_backspace = backspace_id(tokenizer) is not None
        self.known = len(tokenizer)
        self.backspace = add_backspace_token(tokenizer)
        self.candidates = ordinary_ids(tokenizer)

    def build_model(
        self, config: SequenceMatchConfig, tokenizer: PreTrainedTokenizerBase
    ) -> PreTrainedModel:
        check_causal_lm(config.init_from)

        def load(folder: str) -> PreTrainedModel:
            model = AutoModelForCausalLM.from_pretrained(folder)
            rows = model.get_input_embeddings().num_embeddings
            if self.had_backspace and rows <= self.backspace:
                raise UsageError(
                    f"the tokenizer has <bkspc> (id {self.backspace}) but --init-from {folder} "
                    f"has {rows} embedding rows; pass the tokenizer saved with the model"
                )
            if not self.had_backspace:
                add_backspace_row(model, self.backspace, self.known)
            return model

        model = load_init(config, tokenizer, load)
        self.limit = positions(model.config, config.context_length)
        return model

    def examples(
        self,
        documents: Documents,
        tokenizer: PreTrainedTokenizerBase,
        config: SequenceMatchConfig,
        train: bool,
    ) -> list[Example]:
        lines = [line for line in lines_of(documents) if line.strip()]
        split = [line.split("\t", 1) if "\t" in line else [None, line] for line in lines]
        encode = lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"]  # noqa: E731
        heads = encode([head or "" for head, _ in split])
        bodies = encode([body for _, body in split])
        start = self.bos_id if self.bos_id is not None else self.eos_id
        found = []
        for (head, _), head_ids, body_ids in zip(split, heads, bodies, strict=True):
            if head is None:  # no tab: the first --prompt-tokens tokens join the prompt
                cut = min(config.prompt_tokens, max(len(body_ids) - 1, 0))
                head_ids, body_ids = body_ids[:cut], body_ids[cut:]
            prompt = [start, *head_ids][: config.context_length - 1]
            continuation = [*body_ids, self.eos_id]
            room = config.context_length - len(prompt)
            found.append(Example(prompt, continuation[:room], len(continuation) <= room))
        if not found:
            raise UsageError(f"{config.corpus if train else config.validation} holds no text")
        if train:
            self.train_examples = found
            self.gamma = default_gamma(found) if config.gamma is None else config.gamma
        return found

    # -- batches ----------------------------------------------------------------------------
    def sequencematch_on(self, step: int) -> bool:
        return step >= self.config.bc_warmup_steps and self.config.bc_weight < 1.0

    def batch(
        self, examples: list[Example], indices: list[int], generator: torch.Generator
    ) -> Batch:
        """The data examples and the buffer samples drawn for them; noise and layout follow in
        `prepare` (model noise needs the model)."""
        data = [examples[i] for i in indices]
        on = self.sequencematch_on(self.step)
        samples = (
            self.buffer.draw(self.config.model_rows, generator)
            if on and (self.config.model_rows)
            else []
        )
        inputs = {"data": data, "samples": samples, "sequencematch": on}
        return Batch(inputs, {}, sum(len(example) for example in data))

    def prepare(self, models: Models, batch: Batch, generator: torch.Generator) -> Batch:
        data, samples = batch.inputs["data"], batch.inputs["samples"]
        prompts = [example.prompt for example in data]
        continuations = [example.continuation for example in data]
        rate = self.config.noise_rate
        if rate == 0:
            noisy = [NoisyActions(list(c), [False] * len(c)) for c in continuations]
        elif self.config.noise_kind == "uniform":
            noisy = uniform_noise(continuations, rate, self.backspace, self.candidates, generator)
        else:
            noisy = model_noise(
                models.main,
                prompts,
                continuations,
                rate,
                self.backspace,
                self.candidates,
                generator,
                self.pad_id,
            )
        device = generator.device
        inputs, counts = self.lay_out(
            [*prompts, *(s.prompt for s in samples)],
            [*(n.actions for n in noisy), *(s.actions for s in samples)],
            [*(n.is_noise for n in noisy), *([False] * len(s.actions) for s in samples)],
            [*(e.ended for e in data), *(s.ended for s in samples)],
            data_rows=len(data),
            sequencematch=batch.inputs["sequencematch"],
        )
        return Batch({k: _to(v, device) for k, v in inputs.items()}, counts, batch.tokens)

    def lay_out(
        self,
        prompts: list[list[int]],
        actions: list[list[int]],
        is_noise: list[list[bool]],
        ended: list[bool],
        data_rows: int,
        sequencematch: bool,
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """One-pass inputs of B trajectories (the first `data_rows` from the data) and the counts
        of the loss terms. forbid: (B, T + 1) bool, states where only the prompt is live."""
        layout = layout_actions(prompts, actions, self.backspace, self.pad_id)
        mask = layout.action_mask
        noise = torch.zeros_like(mask)
        for row, flags in enumerate(is_noise):
            noise[row, : len(flags)] = torch.tensor(flags, dtype=torch.bool)
        step = torch.where(layout.is_backspace, -1, 1) * mask  # live tokens added by each action
        live = torch.cat([torch.zeros_like(step[:, :1]), step.cumsum(dim=1)], dim=1)
        inputs = {
            **layout.model_inputs(),
            "actions": layout.actions,
            "action_mask": mask,
            "imitate": mask & ~noise,
            "ended": torch.tensor(ended, dtype=torch.bool),
            "forbid": (live == 0) & layout.state_mask,
            "prompt_width": layout.prompt_width,
            "data_rows": data_rows,
            "sequencematch": sequencematch,
        }
        units = sequencematch_units(
            inputs["imitate"][:data_rows], mask[:data_rows], len(prompts) - data_rows
        )
        return inputs, {name: units[name] for name in self.term_names(sequencematch)}

    def term_names(self, sequencematch: bool) -> list[str]:
        if not sequencematch:
            return ["bc"]
        if self.config.phi == "chi2":
            return ["bc", "data_reward", "data_square", "model_square", "data_value", "model_value"]
        return ["bc", "reward", "value"]

    # -- loss -------------------------------------------------------------------------------
    def loss(self, models: Models, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        config, model = self.config, models.main
        mask = inputs["attention_mask"]
        device_type = mask.device.type
        if torch.is_autocast_enabled(device_type):  # the additive mask in the scores' dtype
            mask = mask.to(torch.get_autocast_dtype(device_type))
        logits = model(
            input_ids=inputs["input_ids"], position_ids=inputs["position_ids"], attention_mask=mask
        ).logits
        states = logits[:, inputs["prompt_width"] - 1 :].float()  # (B, T + 1, V)
        is_backspace = torch.arange(states.shape[-1], device=states.device) == self.backspace
        states = states.masked_fill(inputs["forbid"][..., None] & is_backspace, -torch.inf)
        n = inputs["data_rows"]

        def steps(rows: slice):
            return read_steps(
                states[rows],
                inputs["actions"][rows],
                inputs["action_mask"][rows],
                inputs["ended"][rows],
                self.eos_id,
                inputs["imitate"][rows],
            )

        data = steps(slice(None, n))
        terms = behavioural_cloning_loss(data)
        if not inputs["sequencematch"]:
            return terms
        alpha = config.bc_weight
        if config.phi == "chi2":
            sm = sequencematch_chi2_loss(
                data, steps(slice(n, None)), self.gamma, config.square_weight
            )
        else:
            sm = f_divergence_loss(data, self.gamma, config.phi)
        return {"bc": alpha * terms["bc"], **{k: (1 - alpha) * v for k, v in sm.items()}}

    def evaluate(
        self, models: Models, examples: list[Example], config: SequenceMatchConfig
    ) -> dict[str, float]:
        """Behavioural cloning (per-token NLL of the continuations, no noise) and perplexity."""
        count = min(config.eval_examples or len(examples), len(examples))
        device = next(models.main.parameters()).device
        total, tokens = 0.0, 0
        for start in range(0, count, config.batch_size):
            chunk = examples[start : start + config.batch_size]
            inputs, counts = self.lay_out(
                [e.prompt for e in chunk],
                [e.continuation for e in chunk],
                [[False] * len(e.continuation) for e in chunk],
                [e.ended for e in chunk],
                data_rows=len(chunk),
                sequencematch=False,
            )
            inputs = {k: _to(v, device) for k, v in inputs.items()}
            total += float(self.loss(models, inputs)["bc"])
            tokens += counts["bc"]
        loss = total / max(tokens, 1)
        return {"bc": loss, "perplexity": math.exp(min(loss, 50.0)), "tokens": tokens}

    # -- the replay buffer ------------------------------------------------------------------
    def on_step(self, models: Models, step: int, context: StepContext) -> dict[str, float]:
        self.step = step
        config = self.config
        due = (step - config.bc_warmup_steps) % config.sample_every == 0
        if self.sequencematch_on(step) and config.model_rows and due:
            self.refresh(models.main, step, context)
        return {
            "buffer_size": len(self.buffer),
            "buffer_refreshes": self.buffer.refreshes,
            **({"gamma": self.gamma} if self.gamma is not None else {}),
        }

    def refresh(self, model: PreTrainedModel, step: int, context: StepContext) -> None:
        """Continue random training prompts with the current model into the buffer."""
        config = self.config
        generator = torch.Generator().manual_seed(derive_seed(config.seed, "prompts", step))
        picks = torch.randint(
            len(self.train_examples), (config.samples_per_refresh,), generator=generator
        )
        prompts = [self.train_examples[i].prompt for i in picks.tolist()]
        size = config.batch_size
        chunks = [prompts[k : k + size] for k in range(0, len(prompts), size)]
        mine = []
        for k in range(context.rank, len(chunks), context.world):
            chunk = chunks[k]
            sampled = generate(
                model,
                chunk,
                torch.Generator().manual_seed(derive_seed(config.seed, "refresh", step, k)),
                eos_token_id=self.eos_id,
                max_new_tokens=min(config.max_new_tokens, self.limit - max(map(len, chunk))),
                temperature=config.sample_temperature,
                pad_token_id=self.pad_id,
                backspace_token_id=self.backspace,
            )
            actions = sampled.action_lists(drop_eos=False)
            ended = sampled.finished.tolist()
            mine.append((k, [Sample(*row) for row in zip(chunk, actions, ended, strict=True)]))
        gathered = sorted((item for part in context.gather(mine) for item in part), key=_first)
        self.buffer.add([sample for _, samples in gathered for sample in samples])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.buffer.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.buffer.load_state_dict(state)


def default_gamma(examples: list[Example]) -> float:
    """1 - 1/n, n the mean continuation length (actions of a noise-free trajectory, eos
    included): the occupancy weights (1 - gamma) gamma^t then spread over the sequence (its
    steps get 1 - gamma^n ~ 1 - 1/e of the weight, not a few per cent), and a sequence's
    occupancy terms, normalised per sequence, are on the scale of the per-token BC term."""
    mean = sum(len(example.continuation) for example in examples) / len(examples)
    return 1.0 - 1.0 / max(mean, 1.0)


def _first(item: tuple) -> Any:
    return item[0]


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def train_sequencematch(config: SequenceMatchConfig, stop_after: int | None = None) -> Path:
    """Fine-tune `config.init_from` by SequenceMatch; the model (with `<bkspc>`, for
    `AutoModelForCausalLM` and `textebm generate`) lands in `config.output`."""
    return train(config, SequenceMatch(config), stop_after=stop_after)
