"""Exact checks on a space small enough to enumerate: the target, the kernels' transition matrices,
their stationary distributions, and total-variation distances.

The space is every sequence of `length` tokens over a toy masked LM's whole ordinary vocabulary
(its vocabulary is those words plus special tokens, so proposals need no restriction). For each
block of positions B, the B-masked copy of each *context* (x without B) goes through the model
once, and every state sharing that context reads the same logits: exactly the sharing the
kernels rely on (q(x|x') and q(x'|x) come from one copy).

Transition matrices are built from the kernels' own pieces: `Proposal.log_probs` for q,
`log_acceptance` for a, `candidate_blocks` for which positions a step picks.

A truncated proposal (top-k, top-p) makes the chain reducible: it splits into closed
communicating classes (`closed_classes`), each with its own stationary distribution
(`class_stationaries`), which for MH is the target restricted to the class (`restricted`);
`stationary` alone is for an irreducible chain. Detailed balance is checked pair by pair
(`detailed_balance_violation`), which needs no solve at all.
"""

from __future__ import annotations

import itertools
import math

import torch

from textebm.samplers.mh import call_energy, log_acceptance, untempered
from textebm.samplers.state import candidate_blocks

TOY_WORDS = ("red", "green", "blue", "pink", "grey", "cyan")


def toy_tokenizer(n_words: int):
    """The word-level tokenizer of the toys: the first `n_words` of TOY_WORDS plus BERT's
    special tokens."""
    from textebm.models.tiny import wordlevel_tokenizer

    if not 2 <= n_words <= len(TOY_WORDS):
        raise ValueError(f"n_words must be in [2, {len(TOY_WORDS)}], not {n_words}")
    return wordlevel_tokenizer(words=list(TOY_WORDS[:n_words]))


def toy_masked_lm(n_words: int = 4, seed: int = 0, init_scale: float = 10.0):
    """A random 2-layer BERT over `n_words` words plus BERT's special tokens, built in memory.

    init_scale multiplies BERT's initialiser range (0.02). At 1 the masked conditionals are
    nearly those of one joint distribution (degenerate Gibbs is off by ~1e-4 in TV); at 10 they
    are far from it (off by 0.08-0.17 on 4 words x length 3), which is what the checks need.
    """
    from textebm.models.tiny import tiny_mlm

    tokenizer = toy_tokenizer(n_words)
    with torch.random.fork_rng():  # the initialisers draw from the global RNG: leave it as it was
        model = tiny_mlm(tokenizer, seed, init_scale)
    return model, tokenizer


def toy_cmlm(n_words: int = 4, seed: int = 0, init_scale: float = 10.0):
    """A random conditional masked LM (`models.cmlm`, 2 + 2 layers, hidden size 32) over
    `n_words` words plus BERT's special tokens, built in memory; as `toy_masked_lm`, a large
    init_scale makes its masked conditionals far from those of one joint distribution."""
    from textebm.models.tiny import tiny_cmlm

    tokenizer = toy_tokenizer(n_words)
    with torch.random.fork_rng():  # the initialisers draw from the global RNG: leave it as it was
        model = tiny_cmlm(tokenizer, seed, init_scale, max_position_embeddings=16)
    return model, tokenizer


def tv_distance(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation: half the L1 distance between two distributions over the same states."""
    return 0.5 * float((p.double() - q.double()).abs().sum())


def sampling_noise_tv(law: torch.Tensor, draws: float) -> float:
    """The TV from `law` (N,) that the empirical distribution of `draws` independent samples
    of it shows on average: sum_i sqrt(p_i (1 - p_i) / (2 pi n)), since a binomial share X / n
    has E|X / n - p| ~ sqrt(2 p (1 - p) / (pi n)) (normal approximation) and TV is half the sum.
    Correlated samples count as their effective number."""
    p = law.double()
    return float((p * (1 - p) / (2 * math.pi * draws)).sqrt().sum())


def stationary(matrix: torch.Tensor) -> torch.Tensor:
    """pi with pi P = pi, sum pi = 1, for a row-stochastic (N, N) float64 matrix with one closed
    class (else the system is singular: see `closed_classes` and `class_stationaries`)."""
    n = matrix.shape[0]
    system = matrix.T - torch.eye(n, dtype=matrix.dtype)
    system[-1] = 1.0
    rhs = torch.zeros(n, dtype=matrix.dtype)
    rhs[-1] = 1.0
    return torch.linalg.solve(system, rhs)


def restricted(target: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """target (N,) conditioned on `states` (indices): renormalised there, 0 elsewhere."""
    out = torch.zeros_like(target)
    out[states] = target[states] / target[states].sum()
    return out


def class_mixture(
    target: torch.Tensor, classes: list[torch.Tensor], weights: torch.Tensor
) -> torch.Tensor:
    """sum_c w_c target|c: where a chain that sits in closed class c with probability w_c
    (weights: (len(classes),), summing to 1) goes in the long run. (N,) float64."""
    out = torch.zeros_like(target)
    for states, weight in zip(classes, weights.tolist(), strict=True):
        out += weight * restricted(target, states)
    return out


def detailed_balance_violation(matrix: torch.Tensor, target: torch.Tensor) -> float:
    """Largest relative gap between the two flows of a pair of states, over every pair:
    max |f_ij - f_ji| / max(f_ij, f_ji) with f_ij = pi_i P_ij (0 where both flows are 0).

    Relative, so that a pair of improbable states counts as much as a probable one: 0 for a
    chain reversible with respect to pi, 1 for a move that cannot be undone.
    matrix: (N, N) float64 row-stochastic; target: (N,) float64.
    """
    flow = target.unsqueeze(1) * matrix
    larger = torch.maximum(flow, flow.T)
    gap = (flow - flow.T).abs()
    return float(
        torch.where(larger > 0, gap / larger.clamp(min=torch.finfo(flow.dtype).tiny), 0).max()
    )


def strongly_connected(successors: list[list[int]]) -> list[list[int]]:
    """Strongly connected components of a directed graph given as successor lists (Tarjan's
    algorithm, iterative so that long paths do not hit Python's recursion limit)."""
    n = len(successors)
    index, low = [-1] * n, [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]  # (vertex, next successor to look at)
        while work:
            v, i = work[-1]
            if i < len(successors[v]):
                work[-1] = (v, i + 1)
                w = successors[v][i]
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:  # v roots a component: everything above it on the stack
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                components.append(sorted(component))
    return components


def closed_classes(matrix: torch.Tensor) -> list[torch.Tensor]:
    """The closed communicating classes of a chain: the strongly connected components of its
    graph (an edge i -> j where P_ij > 0) that no edge leaves. Every chain ends in one of them
    and stays there; states in none are transient.

    matrix: (N, N) row-stochastic. Returns index tensors, each sorted, ordered by first state.
    """
    positive = matrix > 0
    successors = [row.nonzero().squeeze(1).tolist() for row in positive]
    components = strongly_connected(successors)
    label = torch.empty(matrix.shape[0], dtype=torch.long)
    for number, component in enumerate(components):
        label[component] = number
    source, dest = positive.nonzero(as_tuple=True)
    leaky = set(label[source[label[source] != label[dest]]].tolist())
    closed = [torch.tensor(c) for number, c in enumerate(components) if number not in leaky]
    return sorted(closed, key=lambda c: int(c[0]))


def class_stationaries(matrix: torch.Tensor, classes: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each closed class's own stationary distribution, over all N states (0 outside it): the
    chain restricted to a closed class is stochastic and irreducible, so its solve is regular
    even when the whole chain's (`stationary`) is singular."""
    out = []
    for states in classes:
        pi = torch.zeros(matrix.shape[0], dtype=matrix.dtype)
        pi[states] = stationary(matrix[states][:, states])
        out.append(pi)
    return out


class ExactSpace:
    """All `length`-token sequences over the ordinary words of `energy`'s tokenizer.

    states: (N, length) word indices; tokens: (N, length + 2) ids with [CLS] and [SEP].
    A state's index is its word indices read as a base-V number, first position most significant.
    condition: for a conditional energy, a one-row `Condition` (e.g. a fixed source sentence)
        that every energy and proposal call over the space is given: the space is then the
        targets given that source.
    """

    def __init__(self, energy, length: int, condition=None) -> None:
        tokenizer = energy.tokenizer
        self.condition = condition  # one row (a source sentence), or None: unconditional
        special = set(tokenizer.all_special_ids)
        self.word_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
        self.energy, self.length, self.V = energy, length, len(self.word_ids)
        self.states = torch.tensor(list(itertools.product(range(self.V), repeat=length)))
        self.n = len(self.states)
        ids = self.word_ids[self.states]
        ends = torch.ones(self.n, 1, dtype=torch.long)
        self.tokens = torch.cat(
            [ends * tokenizer.cls_token_id, ids, ends * tokenizer.sep_token_id], dim=1
        )
        self.attention_mask = torch.ones_like(self.tokens)
        self.weights = self.V ** torch.arange(length - 1, -1, -1)
        self._logits: dict[tuple[int, ...], torch.Tensor] = {}

    def conditions(self, rows: int):
        """The space's condition repeated for `rows` sequences (None when unconditional)."""
        if self.condition is None:
            return None
        return self.condition.select(torch.zeros(rows, dtype=torch.long))

    def index(self, states: torch.Tensor) -> torch.Tensor:
        return (states * self.weights).sum(dim=-1)

    @torch.no_grad()
    def energies(self) -> torch.Tensor:
        """Untempered E(x) of every state, from the energy itself: (N,) float64."""
        output = call_energy(self.energy, self.tokens, self.attention_mask, self.conditions(self.n))
        return untempered(self.energy, output).double()

    def target(self, temperature: float) -> torch.Tensor:
        """p(x) = exp(-E(x) / tau) / Z by enumeration: (N,) float64."""
        return torch.softmax(-self.energies() / temperature, dim=0)

    @torch.no_grad()
    def block_logits(self, block: tuple[int, ...]) -> torch.Tensor:
        """(N, len(block), vocab) logits of each state's block-masked copy, one pass per context."""
        if block not in self._logits:
            from textebm.samplers.proposals import masked_conditionals

            context = self.states.clone()
            context[:, list(block)] = 0
            unique, inverse = torch.unique(self.index(context), return_inverse=True)
            rows = torch.searchsorted(self.index(self.states), unique)  # a state per context
            mask = torch.zeros_like(self.tokens, dtype=torch.bool)
            mask[:, [p + 1 for p in block]] = True
            cond = masked_conditionals(
                self.energy,
                self.tokens[rows],
                self.attention_mask[rows],
                mask[rows],
                self.conditions(len(rows)),
            )
            logits = cond.head(cond.hidden[:, [p + 1 for p in block]])
            self._logits[block] = logits[inverse]
        return self._logits[block]


def _block_moves(space: ExactSpace, kernel, block: tuple[int, ...]):
    """For every state and every filling y of the block: (destination index (N, V^k),
    log q(y | x) (N, V^k), log q(x_B | x) (N,)), from the kernel's own proposal."""
    log_q = kernel.proposal_config.log_probs(
        space.block_logits(block).flatten(0, 1), kernel.banned
    ).reshape(space.n, len(block), -1)
    log_q = log_q[:, :, space.word_ids].double()  # banned tokens have probability 0
    fillings = torch.tensor(list(itertools.product(range(space.V), repeat=len(block))))
    dest = space.states.unsqueeze(1).repeat(1, len(fillings), 1)
    dest[:, :, list(block)] = fillings
    j = torch.arange(len(block))
    forward = log_q[:, j, fillings].sum(dim=-1)  # (N, V^k)
    reverse = log_q[torch.arange(space.n).unsqueeze(1), j, space.states[:, list(block)]].sum(-1)
    return space.index(dest), forward, reverse


def scan_blocks(space: ExactSpace, kernel, systematic: bool = False) -> list[tuple[int, ...]]:
    """The blocks a step picks from (random scan: `candidate_blocks`), or a systematic sweep's
    contiguous blocks in order."""
    k = kernel.block_size
    if systematic:
        return [tuple(range(s, min(s + k, space.length))) for s in range(0, space.length, k)]
    return candidate_blocks(space.length, k, kernel.layout)


def block_matrices(space: ExactSpace, kernel, systematic: bool = False) -> list[torch.Tensor]:
    """One (N, N) float64 transition matrix per block of `scan_blocks`: a step of `kernel`
    (MetropolisHastings or DegenerateGibbs) that redraws that block.

    A move outside a truncated proposal (top-k, top-p) has q(y|x) = 0: it contributes 0, even
    when the reverse is impossible too (where the acceptance ratio, -inf - -inf, is NaN).
    """
    proposer = kernel.proposer if _is_mh(kernel) else kernel.source
    if proposer.model is not space.energy.model:
        raise ValueError("the space's energy must be the masked LM the kernel proposes with")
    energy = None  # Gibbs always accepts; MH's target may be another energy than the proposer's
    if _is_mh(kernel):
        with torch.no_grad():
            condition = space.conditions(space.n)
            output = call_energy(kernel.energy, space.tokens, space.attention_mask, condition)
        energy = untempered(kernel.energy, output).double()
    matrices = []
    diagonal = torch.arange(space.n)
    for block in scan_blocks(space, kernel, systematic):
        dest, forward, reverse = _block_moves(space, kernel, block)
        move = forward.exp()
        if energy is not None:
            log_a = log_acceptance(
                energy.unsqueeze(1), energy[dest], forward, reverse.unsqueeze(1), kernel.tau
            )
            move = move * torch.exp(torch.clamp(log_a, max=0.0))
        move = torch.where(forward == float("-inf"), 0.0, move)  # never proposed: not a NaN
        matrix = torch.zeros(space.n, space.n, dtype=torch.float64)
        matrix.scatter_add_(1, dest, move)
        matrix[diagonal, diagonal] += 1.0 - matrix.sum(dim=1)  # rejected moves stay
        matrices.append(matrix)
    return matrices


def combine(matrices: list[torch.Tensor], systematic: bool = False) -> torch.Tensor:
    """A random scan's step (the mean of the block matrices) or a systematic sweep (their
    product, in order)."""
    if not systematic:
        return torch.stack(matrices).mean(dim=0)
    total = matrices[0]
    for matrix in matrices[1:]:
        total = total @ matrix
    return total


def transition_matrix(space: ExactSpace, kernel, systematic: bool = False) -> torch.Tensor:
    """(N, N) float64 transition matrix of one step of `kernel` (MetropolisHastings or
    DegenerateGibbs), random scan: blocks as `candidate_blocks`. systematic=True gives one sweep
    of a systematic scan instead: the product of each contiguous block's matrix, in order."""
    return combine(block_matrices(space, kernel, systematic), systematic)


def _is_mh(kernel) -> bool:
    from textebm.samplers.mh import MetropolisHastings

    return isinstance(kernel, MetropolisHastings)


def empirical(space: ExactSpace, tokens: torch.Tensor) -> torch.Tensor:
    """Distribution of sampled states (..., length + 2) token ids over the space: (N,) float64."""
    lookup = torch.full((int(space.word_ids.max()) + 1,), -1, dtype=torch.long)
    lookup[space.word_ids] = torch.arange(space.V)
    words = lookup[tokens.reshape(-1, tokens.shape[-1])[:, 1:-1]]
    if (words < 0).any():
        raise ValueError("a sample is outside the space")
    counts = torch.bincount(space.index(words), minlength=space.n).double()
    return counts / counts.sum()
