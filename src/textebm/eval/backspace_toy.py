"""A tabular backspace MDP on which SequenceMatch's losses run as the recipe runs them (issue 13).

Why it exists: on the arithmetic task SequenceMatch-chi^2 fine-tuning made greedy decoding loop
`7 <bkspc> 7 <bkspc> ...`. This toy isolates the two causes with nothing but a logit table:

1. **Greedy decoding loops on any backspace.** The policy is Markov in the live tokens, so a
   backspace from s + y returns to s exactly, where greedy chose y: it writes y again, deletes
   it again, ... `rollout(..., ban_deleted=True)` is the cure (as `samplers.generate`'s).
2. **SequenceMatch raises l(<bkspc>) where the last token was uncertain.** On a step the data
   does not constrain, E_model[r^2] drives r = l(a|s) - gamma V(s') to 0, i.e. log pi(a|s) to
   gamma V(s') - V(s). For a backspace s + y -> s that is gamma V(s) - V(s + y), and the soft
   value V(s) holds the entropy still to come in s (about -log pi(y|s) + gamma V(s + y) when the
   rewards are near 0): deleting an uncertain token and drawing it again earns its entropy a
   second time at no reward cost. The chi^2 rewards are worth at most about 1 / (2 w) nats
   (w = `square_weight`) against that unit-temperature entropy, so a smaller w weighs the
   divergence to the data above the entropy and keeps the backspace near its data rate.

The task: a prompt, then the answer `0 Y eos`, Y uniform over the D digits (the data policy is
uncertain at the second token, as a weak model is on arithmetic); noise inserts a wrong digit and
`<bkspc>` before each answer token with probability `noise_rate` (`data.backspace_noise`'s rule).
State (0, y) is then both an answer's end and, for the other answers, a noise state: the data
backspace there at a small rate, which behavioural cloning learns and SequenceMatch inflates.

The model is a free logit table over the states (the live digits, up to `depth` of them, and the
absorbing state after each eos); trajectories go through `read_steps` and the recipe's losses
with its normalisation (behavioural cloning per imitated token, SequenceMatch per sequence),
after a BC warm-up, with a FIFO replay buffer of rollouts refreshed every `sample_every` steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from textebm.objectives.sequencematch import (
    Steps,
    behavioural_cloning_loss,
    read_steps,
    sequencematch_chi2_loss,
)


@dataclass(frozen=True)
class ToyConfig:
    """The task, the model's reach and the training (defaults: the loop of issue 13)."""

    digits: int = 3
    depth: int = 6  # longest live answer the table holds
    noise_rate: float = 0.1
    steps: int = 400
    bc_warmup_steps: int = 100
    bc_weight: float = 0.0  # alpha: 0 = SequenceMatch alone after the warm-up
    square_weight: float = 0.5
    gamma: float = 0.8
    learning_rate: float = 0.05
    batch_size: int = 32  # data sequences per step, and as many from the buffer
    sample_every: int = 20
    samples_per_refresh: int = 64
    buffer_size: int = 256
    max_actions: int = 10  # per rollout
    seed: int = 0
    sequencematch: bool = True  # False: behavioural cloning throughout

    @property
    def eos(self) -> int:
        return self.digits

    @property
    def backspace(self) -> int:
        return self.digits + 1

    @property
    def vocab(self) -> int:
        return self.digits + 2


@dataclass
class Trajectory:
    """Actions after the prompt, which of them the expert took (False at noise), and whether the
    last one is eos."""

    actions: list[int]
    imitate: list[bool]
    ended: bool


class ToyStates:
    """Index of the table's rows: every live digit tuple up to `depth`, then the absorbing
    state (tuple + (eos,)) after each."""

    def __init__(self, config: ToyConfig) -> None:
        self.config = config
        live = [
            s
            for n in range(config.depth + 1)
            for s in itertools.product(range(config.digits), repeat=n)
        ]
        self.states = live + [(*s, config.eos) for s in live]
        self.index = {state: row for row, state in enumerate(self.states)}

    def walk(self, actions: list[int]) -> list[tuple[int, ...]]:
        """States s_0..s_n of an action list (s_0 = the bare prompt, `()`)."""
        state: tuple[int, ...] = ()
        out = [state]
        for action in actions:
            state = state[:-1] if action == self.config.backspace else (*state, action)
            out.append(state)
        return out

    def steps(self, table: torch.Tensor, trajectories: list[Trajectory]) -> Steps:
        """Q and V of every step of the trajectories under the logit table (n_states, vocab),
        `<bkspc>` masked where nothing is live (as the recipe masks it)."""
        width = max(len(t.actions) for t in trajectories)
        rows, empty = [], []
        for trajectory in trajectories:
            walked = self.walk(trajectory.actions)
            walked += [()] * (width + 1 - len(walked))  # padding: never read
            rows.append([self.index[state] for state in walked])
            empty.append([not state for state in walked])
        backspace = torch.arange(self.config.vocab) == self.config.backspace
        logits = table[torch.tensor(rows)]  # (B, T + 1, vocab)
        logits = logits.masked_fill(torch.tensor(empty)[..., None] & backspace, -torch.inf)

        def pad(values: list, fill) -> list:
            return values + [fill] * (width - len(values))

        return read_steps(
            logits,
            torch.tensor([pad(t.actions, 0) for t in trajectories]),
            torch.tensor([pad([True] * len(t.actions), False) for t in trajectories]),
            torch.tensor([t.ended for t in trajectories]),
            self.config.eos,
            torch.tensor([pad(t.imitate, False) for t in trajectories]),
        )

    def policy(self, table: torch.Tensor, state: tuple[int, ...]) -> torch.Tensor:
        """(vocab,) pi(.|state): `<bkspc>` impossible at the prompt, digits beyond `depth`."""
        logits = table[self.index[state]].detach().clone()
        if not state:
            logits[self.config.backspace] = -torch.inf
        if len(state) >= self.config.depth:
            logits[: self.config.digits] = -torch.inf
        return logits.softmax(0)


def noisy_answers(config: ToyConfig, count: int, generator: torch.Generator) -> list[Trajectory]:
    """`count` data trajectories `0 Y eos`, noise `wrong <bkspc>` before each token at the rate."""
    out = []
    for _ in range(count):
        answer = [0, int(torch.randint(config.digits, (), generator=generator)), config.eos]
        actions, imitate = [], []
        for token in answer:
            if float(torch.rand((), generator=generator)) < config.noise_rate:
                wrong = [d for d in range(config.digits) if d != token]
                pick = int(torch.randint(len(wrong), (), generator=generator))
                actions += [wrong[pick], config.backspace]
                imitate += [False, True]
            actions.append(token)
            imitate.append(True)
        out.append(Trajectory(actions, imitate, True))
    return out


def rollout(
    states: ToyStates,
    table: torch.Tensor,
    count: int,
    generator: torch.Generator,
    greedy: bool = False,
    ban_deleted: bool = False,
) -> list[Trajectory]:
    """`count` trajectories of the table's policy, at most `max_actions` each; greedy takes the
    argmax; ban_deleted never redraws a token in the state a backspace deleted it from."""
    config = states.config
    out = []
    for _ in range(count):
        state: tuple[int, ...] = ()
        actions: list[int] = []
        deleted: dict[tuple[int, ...], set[int]] = {}
        ended = False
        for _ in range(config.max_actions):
            pi = states.policy(table, state)
            if ban_deleted:
                pi[list(deleted.get(state, ()))] = 0.0
            action = (
                int(pi.argmax()) if greedy else int(torch.multinomial(pi, 1, generator=generator))
            )
            actions.append(action)
            if action == config.eos:
                ended = True
                break
            if action == config.backspace:
                deleted.setdefault(state[:-1], set()).add(state[-1])
                state = state[:-1]
            else:
                deleted = {s: d for s, d in deleted.items() if len(s) <= len(state)}
                state = (*state, action)
        out.append(Trajectory(actions, [True] * len(actions), ended))
    return out


def toy_losses(
    states: ToyStates, table: torch.Tensor, data: list[Trajectory], samples: list[Trajectory]
) -> dict[str, torch.Tensor]:
    """The recipe's weighted, normalised loss terms: "bc" per imitated token; the chi^2 terms
    per sequence of their batch (model terms over `samples`; none when `samples` is empty)."""
    config = states.config
    data_steps = states.steps(table, data)
    bc = behavioural_cloning_loss(data_steps)["bc"] / int(data_steps.imitate.sum())
    if not samples:
        return {"bc": bc}
    model_steps = states.steps(table, samples)
    terms = sequencematch_chi2_loss(data_steps, model_steps, config.gamma, config.square_weight)
    alpha = config.bc_weight
    out = {"bc": alpha * bc}
    for name, value in terms.items():
        count = len(samples) if name.startswith("model") else len(data)
        out[name] = (1 - alpha) * value / count
    return out


def train_toy(config: ToyConfig) -> tuple[ToyStates, torch.Tensor]:
    """Train the logit table (Adam from zeros); returns the states and the table."""
    states = ToyStates(config)
    generator = torch.Generator().manual_seed(config.seed)
    table = torch.zeros(len(states.states), config.vocab, requires_grad=True)
    optimiser = torch.optim.Adam([table], lr=config.learning_rate)
    buffer: list[Trajectory] = []
    for step in range(config.steps):
        data = noisy_answers(config, config.batch_size, generator)
        samples: list[Trajectory] = []
        if config.sequencematch and step >= config.bc_warmup_steps:
            if (step - config.bc_warmup_steps) % config.sample_every == 0:
                fresh = rollout(states, table, config.samples_per_refresh, generator)
                buffer = (buffer + fresh)[-config.buffer_size :]
            picks = torch.randperm(len(buffer), generator=generator)[: config.batch_size]
            samples = [buffer[i] for i in picks.tolist()]
        loss = sum(toy_losses(states, table, data, samples).values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return states, table.detach()


def log_policy_push(
    states: ToyStates,
    table: torch.Tensor,
    data: list[Trajectory],
    samples: list[Trajectory],
    state: tuple[int, ...],
) -> dict[str, torch.Tensor]:
    """Per loss term, how a small gradient step moves log pi(.|state): (vocab,) tensors
    -(g - sum_a pi(a) g_a), g the term's gradient with respect to the state's logits. A positive
    entry at `<bkspc>` is a term that makes the backspace more likely there."""
    table = table.detach().clone().requires_grad_()
    terms = toy_losses(states, table, data, samples)
    row = states.index[state]
    pi = table.detach()[row].softmax(0)
    pushes = {}
    for name, value in terms.items():
        (gradient,) = torch.autograd.grad(value, table, retain_graph=True)
        g = gradient[row]
        pushes[name] = -(g - (pi * g).sum())
    return pushes
