"""A straightforward Metropolis-Hastings, for tests and benchmarks to check the cached one against.

Algorithm 1 of Goyal et al. as written: every step computes E(x) (T sequences), the proposal's
masked copy (1), and E(x') (T): 2T + 1 sequences per chain per step, nothing reused. It draws its
random numbers in the same order as `MetropolisHastings`, so from the same generator state the two
produce the same chains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textebm.energies.base import Condition
from textebm.samplers.mh import MetropolisHastings, call_energy, log_acceptance, untempered
from textebm.samplers.proposals import masked_conditionals, sample
from textebm.samplers.state import ChainState, StepInfo, choose_sites


@dataclass(frozen=True)
class NaiveMH(MetropolisHastings):
    """Same settings as `MetropolisHastings`; the state's `hidden` is never used."""

    @torch.no_grad()
    def init(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor,
        free: torch.Tensor,
        generator: torch.Generator,
        condition: Condition | None = None,
    ) -> tuple[ChainState, int]:
        state, passes = super().init(tokens, attention_mask, free, generator, condition)
        return state.replace(hidden=None), passes

    @torch.no_grad()
    def step(self, generator: torch.Generator, state: ChainState) -> tuple[ChainState, StepInfo]:
        tokens, mask = state.tokens, state.attention_mask
        sites = choose_sites(
            state.free, state.step, generator, self.block_size, self.scan, self.layout
        )
        energy = untempered(self.energy, call_energy(self.energy, tokens, mask, state.condition))
        conditionals = masked_conditionals(self.proposer, tokens, mask, sites, state.condition)
        row, col = sites.nonzero(as_tuple=True)
        log_q = self.proposal_config.log_probs(conditionals.logits(row, col), self.banned)
        drawn = sample(log_q, generator)
        proposal = tokens.clone()
        proposal[row, col] = drawn
        pick = torch.arange(len(row), device=tokens.device)
        zeros = torch.zeros(tokens.shape[0], device=tokens.device)
        log_q_forward = zeros.index_add(0, row, log_q[pick, drawn])
        log_q_reverse = zeros.index_add(0, row, log_q[pick, tokens[row, col]])
        proposed = call_energy(self.energy, proposal, mask, state.condition)
        energy_proposed = untempered(self.energy, proposed)
        log_ratio = log_acceptance(energy, energy_proposed, log_q_forward, log_q_reverse, self.tau)
        u = torch.rand(tokens.shape[0], generator=generator, device=tokens.device)
        accepted = torch.log(u) < log_ratio
        new_state = state.replace(
            tokens=torch.where(accepted.unsqueeze(1), proposal, tokens),
            energy=torch.where(accepted, energy_proposed, energy),
            step=state.step + 1,
        )
        info = StepInfo(
            sites=sites,
            proposal=proposal,
            acceptance=torch.exp(torch.clamp(log_ratio, max=0.0)),
            accepted=accepted,
            novel=accepted & (proposal != tokens).any(dim=1),
            log_ratio=log_ratio,
        )
        return new_state, info
