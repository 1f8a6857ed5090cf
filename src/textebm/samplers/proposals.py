"""Proposals from a masked LM's conditionals, and the per-token energy terms they share.

A proposal at position t draws from the masked conditional p(x_t | x without t) (or, for a block,
every position of the block from the copy with the whole block masked), reshaped by:
- a temperature: logits / T;
- top-k, then nucleus (top-p) truncation, renormalised over the tokens kept;
- never a special token ([MASK], [CLS], [PAD], [UNK], ...) or an id beyond the tokenizer's
  vocabulary (models often pad their output layer).

The same `Proposal.log_probs` gives q(x'|x) and q(x|x') in the acceptance ratio, so truncation is
accounted for in both directions. With truncation a chain is exact only on the states it can
reach: a current token outside its own truncated conditional has q(x|x') = 0, so any move away
from it is rejected, and once left it can never come back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import torch

from textebm.energies.base import Condition, Conditionals, Cost, Energy, select_condition
from textebm.energies.masked_lm import per_token_terms
from textebm.models.output_rows import output_rows


class ProposalSource(Energy, Protocol):
    """A masked-LM energy whose conditionals propose: what `masked_conditionals` reads.

    Proposals from an unconditional source (a masked LM) see the tokens only: Metropolis-Hastings
    stays exact with any proposal, so a conditional target may use an unconditional proposer
    (`source=`). A source that sets `conditional = True` (a conditional masked LM,
    `energies.conditional`) proposes given the chain's condition too, through its
    `decode_copies(copies, attention_mask, condition)`.
    """

    model: torch.nn.Module
    tokenizer: object
    head: torch.nn.Linear
    mask_id: int
    batch_tokens: int
    cost: Cost

    @property
    def device(self) -> torch.device: ...


@dataclass(frozen=True)
class Proposal:
    """How masked-LM logits become a proposal distribution.

    temperature: divides the logits (> 0); None follows the target: a kernel sets it to its
        target temperature (`at`), also when annealing; where there is no target, 1.
    top_k: keep the k most probable tokens (ties at the k-th kept too); 0 keeps all.
    top_p: keep the smallest most-probable set whose probability reaches p, in (0, 1].
    """

    temperature: float | None = None
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"proposal temperature must be positive, not {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")

    @property
    def truncated(self) -> bool:
        return self.top_k > 0 or self.top_p < 1

    def at(self, temperature: float) -> Proposal:
        """This proposal with a temperature that follows the target's set to `temperature`;
        unchanged if its own temperature is given."""
        return self if self.temperature is not None else replace(self, temperature=temperature)

    def log_probs(self, logits: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities (n, vocab); -inf for banned and truncated tokens.

        logits: (n, vocab) float. banned: (vocab,) bool, True for tokens never proposed.
        """
        logits = logits.float() / (1.0 if self.temperature is None else self.temperature)
        logits = logits.masked_fill(banned[: logits.shape[-1]], float("-inf"))
        if self.top_k > 0:
            k = min(self.top_k, logits.shape[-1])
            kth = torch.topk(logits, k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
            probs = torch.softmax(sorted_logits, dim=-1)
            before = torch.cumsum(probs, dim=-1) - probs  # mass strictly above each token
            drop_sorted = before >= self.top_p  # the top token always stays (before = 0)
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
        return torch.log_softmax(logits, dim=-1)


def banned_tokens(tokenizer, vocab_size: int, device: torch.device) -> torch.Tensor:
    """(vocab_size,) bool: special tokens and ids the tokenizer does not know."""
    banned = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    banned[len(tokenizer) :] = True
    special = [i for i in tokenizer.all_special_ids if i < vocab_size]
    banned[special] = True
    return banned


def source_banned(source: ProposalSource) -> torch.Tensor:
    """`banned_tokens` over a proposal source's output layer, on the layer's device."""
    head = source.head
    return banned_tokens(source.tokenizer, head.out_features, head.weight.device)


def sample(log_probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of (n, vocab) log-probabilities: (n,) int64."""
    if log_probs.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=log_probs.device)
    return torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)


def token_terms(energy: Energy, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Untempered energy terms of `tokens` (n,) at positions whose masked-copy logits are given.

    The energy's own arithmetic (`per_token_terms`: `norm` -log softmax, `raw` -logit). Energies
    that define `token_terms(logits, tokens)` themselves take precedence.
    """
    if hasattr(energy, "token_terms"):
        return energy.token_terms(logits, tokens)
    return per_token_terms(energy.kind, logits, tokens)


@torch.no_grad()
def masked_conditionals(
    source: ProposalSource,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor,
    mask: torch.Tensor,
    condition: Condition | None = None,
) -> Conditionals:
    """The conditionals of one copy per row with every `mask` position replaced by [MASK].

    source: a masked-LM energy (model, head, mask_id, batch_tokens, cost).
    tokens, attention_mask, mask: (batch, length). Rows without a masked position are skipped.
    condition: the chains' condition, one row per row of `tokens`; a conditional source
        (`source.conditional`) predicts given it, an unconditional one sees the tokens only.
    Costs one sequence per row with a masked position, counted in `source.cost`.
    """
    conditional = getattr(source, "conditional", False)
    batch, length = tokens.shape
    hidden = torch.zeros(
        (batch, length, source.head.in_features),
        dtype=source.head.weight.dtype,
        device=tokens.device,
    )
    rows = mask.any(dim=1).nonzero().squeeze(1)
    chunk = max(1, source.batch_tokens // max(length, 1))
    for start in range(0, len(rows), chunk):
        row = rows[start : start + chunk]
        width = int(attention_mask[row].sum(dim=1).max())
        copies = tokens[row, :width].masked_fill(mask[row, :width], source.mask_id)
        with output_rows(source.head, mask[row, :width]) as keep:
            if conditional:
                rows_condition = select_condition(condition, row)
                source.decode_copies(copies, attention_mask[row, :width], rows_condition)
            else:
                source.model(input_ids=copies, attention_mask=attention_mask[row, :width])
        source.cost.add(sequences=len(row), tokens=len(row) * width)
        block = torch.zeros((len(row), length), dtype=torch.bool, device=tokens.device)
        block[:, :width] = mask[row, :width]
        sub = hidden[row]
        sub[block] = keep.hidden
        hidden[row] = sub
    return Conditionals(hidden=hidden, computed=mask.clone(), head=source.head)


@torch.no_grad()
def fill_masks(
    source: ProposalSource,
    proposal: Proposal,
    banned: torch.Tensor,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor,
    free: torch.Tensor,
    generator: torch.Generator,
    condition: Condition | None = None,
) -> tuple[torch.Tensor, int]:
    """Replace every [MASK] at a free position by a draw from its proposal, one position per
    chain per pass, in random order, each drawn given the tokens filled so far (the masks not yet
    filled stay in its context). Every draw is kept: this is initialisation, not the chain.

    Returns the filled tokens and the number of passes (each one sequence per unfinished chain).
    condition: the chains' condition (see `masked_conditionals`).
    """
    tokens = tokens.clone()
    passes = 0
    while True:
        masked = free & (tokens == source.mask_id)
        if not masked.any():
            return tokens, passes
        u = torch.rand(masked.shape[0], generator=generator, device=tokens.device)
        n = masked.sum(dim=1)
        pick = torch.floor(u * n).long().clamp(max=(n - 1).clamp(min=0))
        rank = torch.cumsum(masked.long(), dim=1) - 1
        sites = masked & (rank == pick.unsqueeze(1))
        conditionals = masked_conditionals(source, tokens, attention_mask, sites, condition)
        row, col = sites.nonzero(as_tuple=True)
        log_probs = proposal.log_probs(conditionals.logits(row, col), banned)
        tokens[row, col] = sample(log_probs, generator)
        passes += 1
