"""Degenerate Gibbs sampling (Wang & Cho 2019, "BERT has a mouth and it must speak").

Mask a position (or a block), redraw it from the masked conditional(s), always accept. It would be
Gibbs sampling if the conditionals were those of one joint distribution; a masked LM's are not, so
its stationary distribution is not exp(-E(x)) for either masked-LM energy (`textebm verify` shows
by how much). It is the baseline MH must beat, run as a chain exactly like MH.

Cost: one sequence per chain per step (the masked copy); no energy is needed to move. The driver
still evaluates E(x) once per sweep for the energy trace (T sequences per chain).

Conditioning: the state's `condition` goes to the source's energy (the trace) and to its masked
conditionals. An unconditional source (a masked LM) sees the tokens only, so it rejects a
condition at the first trace rather than sample while ignoring it; a conditional one (a CMLM,
`energies.conditional`) draws given the condition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import torch

from textebm.energies.base import Condition
from textebm.samplers.mh import call_energy, untempered
from textebm.samplers.proposals import (
    Proposal,
    ProposalSource,
    fill_masks,
    masked_conditionals,
    sample,
    source_banned,
)
from textebm.samplers.state import ChainState, StepInfo, check_sites, choose_sites


@dataclass(frozen=True)
class DegenerateGibbs:
    """source: the masked-LM energy whose conditionals are drawn from (and that scores traces).
    temperature: the target temperature; the conditionals are drawn at it, also when annealing
        (`at_temperature`), unless `proposal_temperature` pins them.
    top_k, top_p: truncate the conditionals (`Proposal`); top_k=1 is argmax.
    block_size, scan, layout: which positions a step redraws (`state.choose_sites`); a block is
        drawn position by position from the copy with the whole block masked.
    proposal_temperature: the conditionals' temperature when it should not follow `temperature`.
    """

    source: ProposalSource
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    block_size: int = 1
    scan: str = "random"
    layout: str = "contiguous"
    proposal_temperature: float | None = None

    def __post_init__(self) -> None:
        check_sites(self.block_size, self.scan, self.layout)

    @property
    def energy(self) -> ProposalSource:
        return self.source

    @property
    def tau(self) -> float:
        return self.temperature

    @property
    def proposal_config(self) -> Proposal:
        return Proposal(self.proposal_temperature, self.top_k, self.top_p).at(self.temperature)

    @cached_property
    def banned(self) -> torch.Tensor:
        return source_banned(self.source)

    def at_temperature(self, temperature: float) -> DegenerateGibbs:
        return replace(self, temperature=temperature)

    @torch.no_grad()
    def init(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor,
        free: torch.Tensor,
        generator: torch.Generator,
        condition: Condition | None = None,
    ) -> tuple[ChainState, int]:
        tokens, passes = fill_masks(
            self.source,
            self.proposal_config,
            self.banned,
            tokens,
            attention_mask,
            free,
            generator,
            condition,
        )
        return ChainState(tokens, attention_mask, free, condition=condition), passes

    @torch.no_grad()
    def energy_of(self, state: ChainState) -> torch.Tensor:
        """Untempered E(x) of every chain (T sequences per chain)."""
        output = call_energy(self.source, state.tokens, state.attention_mask, state.condition)
        return untempered(self.source, output)

    @torch.no_grad()
    def step(self, generator: torch.Generator, state: ChainState) -> tuple[ChainState, StepInfo]:
        tokens = state.tokens
        sites = choose_sites(
            state.free, state.step, generator, self.block_size, self.scan, self.layout
        )
        conditionals = masked_conditionals(
            self.source, tokens, state.attention_mask, sites, state.condition
        )
        row, col = sites.nonzero(as_tuple=True)
        log_q = self.proposal_config.log_probs(conditionals.logits(row, col), self.banned)
        proposal = tokens.clone()
        proposal[row, col] = sample(log_q, generator)
        ones = torch.ones(tokens.shape[0], device=tokens.device)
        info = StepInfo(
            sites=sites,
            proposal=proposal,
            acceptance=ones,
            accepted=ones.bool(),
            novel=(proposal != tokens).any(dim=1),
            log_ratio=torch.full_like(ones, float("nan")),
        )
        return state.replace(tokens=proposal, step=state.step + 1), info
