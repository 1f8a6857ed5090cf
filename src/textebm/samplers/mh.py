"""Metropolis-Hastings over token sequences with masked-LM proposals (Goyal et al., ICLR 2022).

Target p(x) proportional to exp(-E(x) / tau). A step picks a position i (or a block I) in every
chain, draws x'_I from the proposal q(. | x without I), and accepts with probability min(1, a):

    log a = -(E(x') - E(x)) / tau + log q(x_I | x'_without_I) - log q(x'_I | x_without_I)

where x'_without_I = x_without_I, so both proposal terms come from the same masked copy.

Caching (target = the proposal's own masked-LM energy). The state keeps, for every position t,
the t-masked copy's output-layer input: it gives E(x)'s term at t *and* the proposal at t. After a
single-site move at i, x' without i is x without i, so x''s term at i and its proposal at i come
from the cached copy; only the T - 1 other copies of x' are new. Costs, in sequences per chain:

    single-site step:  T - 1   (0 when the proposal equals the current token)
    block step (k>1):  1 + T   (the block-masked copy, then x''s T copies; T - 1 + 1 when
                                only one position of the block changed; 1 when none did)
    straightforward:   2T + 1  (E(x), the proposal copy, E(x'): `reference.NaiveMH`)

Any other target (e.g. an Electric energy) works too: the state then caches only E(x), and a
step costs one proposal copy plus whatever one evaluation of the target costs.

Conditioning: the state's `condition` goes to every call of the target, E(x | c). Proposals are
the source's conditionals: unconditional for a masked LM, which leaves the chain exact for the
conditional target; given the condition for a conditional source (a CMLM, `energies.conditional`),
which then caches exactly as above.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import torch

from textebm.energies.base import Condition, Energy, EnergyOutput, select_condition
from textebm.samplers.proposals import (
    Proposal,
    ProposalSource,
    fill_masks,
    masked_conditionals,
    sample,
    source_banned,
    token_terms,
)
from textebm.samplers.state import ChainState, StepInfo, check_sites, choose_sites


def log_acceptance(
    energy: torch.Tensor,
    energy_proposed: torch.Tensor,
    log_q_forward: torch.Tensor,
    log_q_reverse: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """log a = -(E(x') - E(x)) / tau + log q(x|x') - log q(x'|x), unclipped; all (chains,).

    Lower energy is more probable, so a proposal that lowers E raises a. -inf when the reverse
    move is impossible (a truncated proposal that cannot return to x).
    """
    return -(energy_proposed - energy) / temperature + log_q_reverse - log_q_forward


def untempered(energy: Energy, output: EnergyOutput) -> torch.Tensor:
    """E(x) from an `EnergyOutput`, which holds E(x) / energy.temperature."""
    return output.energy * getattr(energy, "temperature", 1.0)


def call_energy(
    energy: Energy,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    condition: Condition | None,
    **kwargs,
) -> EnergyOutput:
    """`energy(input_ids, attention_mask, condition=condition, **kwargs)`; the condition is left
    out when None, so energies written before conditioning (no `condition` argument) still work."""
    if condition is not None:
        kwargs["condition"] = condition
    return energy(input_ids, attention_mask, **kwargs)


@dataclass(frozen=True)
class MetropolisHastings:
    """The kernel. `init` builds a state, `step(generator, state)` advances every chain once.

    energy: the target, any energy; p(x) proportional to exp(-E(x) / temperature).
    source: the masked-LM energy whose conditionals propose; None = `energy` itself, which
        turns on caching (see the module docstring).
    temperature: target temperature tau; None = `energy.temperature`. Energies are used
        untempered, so tau alone sets the target.
    proposal: temperature, top-k, top-p of the proposals; None = untruncated. A proposal
        temperature left None follows tau, also when annealing (`at_temperature`).
    block_size, scan, layout: which positions a step changes (`state.choose_sites`).
    """

    energy: Energy
    source: ProposalSource | None = None
    temperature: float | None = None
    proposal: Proposal | None = None
    block_size: int = 1
    scan: str = "random"
    layout: str = "contiguous"

    def __post_init__(self) -> None:
        check_sites(self.block_size, self.scan, self.layout)
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be positive, not {self.temperature}")

    @property
    def proposer(self) -> ProposalSource:
        return self.energy if self.source is None else self.source

    @property
    def cached(self) -> bool:
        return self.proposer is self.energy

    @property
    def tau(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return getattr(self.energy, "temperature", 1.0)

    @property
    def proposal_config(self) -> Proposal:
        return (self.proposal or Proposal()).at(self.tau)

    @cached_property
    def banned(self) -> torch.Tensor:
        return source_banned(self.proposer)

    def at_temperature(self, temperature: float) -> MetropolisHastings:
        """The same kernel with target temperature tau (for annealing); an unset proposal
        temperature follows it."""
        return replace(self, temperature=temperature)

    def energy_of(self, state: ChainState) -> torch.Tensor:
        """Untempered E(x) of every chain: carried by the state, free."""
        return state.energy

    @torch.no_grad()
    def init(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor,
        free: torch.Tensor,
        generator: torch.Generator,
        condition: Condition | None = None,
    ) -> tuple[ChainState, int]:
        """A state from tokens whose free [MASK]s are filled by proposals first (every draw
        kept; see `proposals.fill_masks`). Returns it and the number of filling passes.

        condition: what the target is conditioned on, one row per chain; the state keeps it."""
        tokens, passes = fill_masks(
            self.proposer,
            self.proposal_config,
            self.banned,
            tokens,
            attention_mask,
            free,
            generator,
            condition,
        )
        if self.cached:
            output = call_energy(
                self.energy, tokens, attention_mask, condition, return_conditionals=True
            )
            hidden = output.conditionals.hidden
        else:  # any energy: only E(x) is carried
            output, hidden = call_energy(self.energy, tokens, attention_mask, condition), None
        energy = untempered(self.energy, output)
        state = ChainState(tokens, attention_mask, free, energy, hidden, condition=condition)
        return state, passes

    @torch.no_grad()
    def step(self, generator: torch.Generator, state: ChainState) -> tuple[ChainState, StepInfo]:
        tokens, mask = state.tokens, state.attention_mask
        sites = choose_sites(
            state.free, state.step, generator, self.block_size, self.scan, self.layout
        )
        row, col = sites.nonzero(as_tuple=True)
        if self.cached and self.block_size == 1:
            logits = self.proposer.head(state.hidden[row, col])  # the cached i-masked copy
        else:
            conditionals = masked_conditionals(self.proposer, tokens, mask, sites, state.condition)
            logits = conditionals.logits(row, col)
        log_q = self.proposal_config.log_probs(logits, self.banned)
        drawn = sample(log_q, generator)
        proposal = tokens.clone()
        proposal[row, col] = drawn
        pick = torch.arange(len(row), device=tokens.device)
        zeros = torch.zeros(tokens.shape[0], device=tokens.device)
        log_q_forward = zeros.index_add(0, row, log_q[pick, drawn])
        log_q_reverse = zeros.index_add(0, row, log_q[pick, tokens[row, col]])

        energy_proposed, hidden_proposed = self._proposed_energy(state, proposal)
        log_ratio = log_acceptance(
            state.energy, energy_proposed, log_q_forward, log_q_reverse, self.tau
        )
        u = torch.rand(tokens.shape[0], generator=generator, device=tokens.device)
        accepted = torch.log(u) < log_ratio
        changed = (proposal != tokens).any(dim=1)
        new_state = state.replace(
            tokens=torch.where(accepted.unsqueeze(1), proposal, tokens),
            energy=torch.where(accepted, energy_proposed, state.energy),
            hidden=None
            if state.hidden is None
            else torch.where(accepted[:, None, None], hidden_proposed, state.hidden),
            step=state.step + 1,
        )
        info = StepInfo(
            sites=sites,
            proposal=proposal,
            acceptance=torch.exp(torch.clamp(log_ratio, max=0.0)),
            accepted=accepted,
            novel=accepted & changed,
            log_ratio=log_ratio,
        )
        return new_state, info

    def _proposed_energy(
        self, state: ChainState, proposal: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """E(x') (chains,) and, when caching, the hidden states of x''s masked copies."""
        diff = proposal != state.tokens
        changed = diff.any(dim=1)
        if not self.cached:
            energy = state.energy.clone()
            rows = changed.nonzero().squeeze(1)
            if len(rows):
                output = call_energy(
                    self.energy,
                    proposal[rows],
                    state.attention_mask[rows],
                    select_condition(state.condition, rows),
                )
                energy[rows] = untempered(self.energy, output)
            return energy, None
        # Where x' differs from x at one position t only, x''s t-masked copy is x's: cached.
        single = diff & (diff.sum(dim=1, keepdim=True) == 1)
        recompute = changed.unsqueeze(1) & ~single
        output = call_energy(
            self.energy,
            proposal,
            state.attention_mask,
            state.condition,
            positions=recompute,
            return_conditionals=True,
        )
        row, col = single.nonzero(as_tuple=True)
        logits = self.energy.head(state.hidden[row, col])
        reused = torch.zeros_like(state.energy).index_add(
            0, row, token_terms(self.energy, logits, proposal[row, col])
        )
        energy = torch.where(changed, untempered(self.energy, output) + reused, state.energy)
        hidden = torch.where(recompute.unsqueeze(2), output.conditionals.hidden, state.hidden)
        return energy, hidden
