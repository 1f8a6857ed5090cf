"""Electric's objective (Clark et al. 2020, Algorithm 2): NCE against a noise model, one pass.

For a sequence with n ordinary tokens (not [CLS], [SEP] or padding; sequences with n < 2 carry
no loss), `choose_positions` picks k = max(1, round(0.15 n)) of them uniformly without
replacement (round half to even, as Python's `round`). `corrupt` replaces each chosen token by a
draw from the noise model q, run on the ORIGINAL sequence, and reads log q at every position for
the token the corrupted sequence now holds there, replaced or not: q(x~_t | x_{-t}). Electric
then runs once on the corrupted sequence x~, giving energies E(x~)_t and p_hat = exp(-E(x~)_t).
The loss (`electric_loss`), summed over the ordinary positions of the sequences with n >= 2, is

    replaced position:  -log[ k q / ((n-k) p_hat + k q) ]       = softplus(-s_t)
    any other position: -log[ (n-k) p_hat / ((n-k) p_hat + k q) ] = softplus(s_t)

    with the noise logit  s_t = E(x~)_t + log q(x~_t | x_{-t}) + log(k / (n-k)),

the binary logistic NCE of `textebm.objectives.nce`. A chosen position counts as noise even when
the draw equals the original token, as in the reference code (ELECTRA, by contrast, labels only
changed tokens): what matters for NCE is which process produced the token, not its value.

The prior log(k / (n-k)) is taken per sequence (prior="sequence", the default: the exact odds of
Algorithm 2 for this sequence's n and k). prior="constant" uses the reference code's
log(p / (1-p)) with p the masking probability 0.15, its expectation over lengths.

Noise is drawn among the tokens that can appear in text (`excluded_ids`, the structural special
tokens, get probability zero and q is renormalised over the rest), optionally mixed with a uniform
distribution over them (`noise_log_probs(uniform=...)`), so that the q in the loss is exactly the
distribution the replacements came from.
"""

from __future__ import annotations

import math

import torch

from textebm.objectives.nce import logistic_nce

PRIORS = ("sequence", "constant")


def sequence_sizes(
    ordinary: torch.Tensor, probability: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, k), both (batch,) int64: ordinary tokens, and positions to replace (0 where n < 2).

    ordinary: (batch, length) bool.
    """
    n = ordinary.sum(1)
    k = torch.round(n.double() * probability).long().clamp(min=1)  # half to even, like round()
    return n, torch.where(n >= 2, k, 0)


def choose_positions(
    ordinary: torch.Tensor, generator: torch.Generator, probability: float = 0.15
) -> torch.Tensor:
    """k of each row's n ordinary positions, uniformly without replacement: (batch, length) bool.

    ordinary: (batch, length) bool, on the generator's device.
    """
    _, k = sequence_sizes(ordinary, probability)
    keys = torch.rand(ordinary.shape, generator=generator, device=ordinary.device)
    keys = torch.where(ordinary, keys, 2.0)  # non-ordinary positions sort last
    ranks = keys.argsort(1).argsort(1)  # rank of each position's key within its row
    return ranks < k[:, None]


def noise_log_probs(
    logits: torch.Tensor, excluded_ids: torch.Tensor, uniform: float = 0.0
) -> torch.Tensor:
    """log q: the noise model's logits renormalised without `excluded_ids`, float32; with
    `uniform` = u > 0, q = (1 - u) q_model + u / m over the m tokens that may be drawn.

    Why the mixture: NCE only learns what the noise shows it. A strong noise model almost never
    draws a token that is impossible in its context, so Electric gets no say on such tokens,
    which is what minimal pairs test; the uniform part draws them at a known rate. q stays the
    exact distribution the draws come from, so the loss is still Algorithm 2's.

    logits: (batch, length, vocab); excluded_ids: (m,) int64. Returns (batch, length, vocab).
    """
    if not 0 <= uniform < 1:
        raise ValueError(f"uniform must lie in [0, 1), not {uniform}")
    logits = logits.float().clone()
    logits[..., excluded_ids] = -torch.inf
    log_q = logits.log_softmax(-1)
    if uniform == 0:
        return log_q
    drawable = logits.shape[-1] - torch.unique(excluded_ids).numel()
    flat = torch.full_like(log_q, math.log(uniform / drawable))
    flat[..., excluded_ids] = -torch.inf
    return torch.logaddexp(log_q + math.log1p(-uniform), flat)


def corrupt(
    input_ids: torch.Tensor,
    log_q: torch.Tensor,
    chosen: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the chosen tokens by draws from q; read log q of the token now at every position.

    input_ids: (batch, length) int64, the original sequence; log_q: (batch, length, vocab), the
    noise model's log q(. | x_{-t}) on that original sequence; chosen: (batch, length) bool.
    Returns (corrupted input_ids (batch, length) int64, log q(x~_t | x_{-t}) (batch, length)).
    """
    corrupted = input_ids.clone()
    if chosen.any():  # multinomial refuses an empty batch of distributions
        draws = torch.multinomial(log_q[chosen].exp(), 1, generator=generator)[:, 0]
        corrupted[chosen] = draws
    return corrupted, log_q.gather(-1, corrupted[..., None])[..., 0]


def noise_logits(
    energies: torch.Tensor,
    log_q: torch.Tensor,
    ordinary: torch.Tensor,
    prior: str = "sequence",
    probability: float = 0.15,
) -> torch.Tensor:
    """s_t = E(x~)_t + log q(x~_t | x_{-t}) + prior, float32 (batch, length).

    energies, log_q: (batch, length) float; ordinary: (batch, length) bool. The prior is
    log(k / (n-k)) of each row (prior="sequence"; rows with n < 2 get 0, they carry no loss) or
    log(probability / (1 - probability)) (prior="constant").
    """
    if prior == "sequence":
        n, k = sequence_sizes(ordinary, probability)
        odds = torch.where(k > 0, k.double().log() - (n - k).clamp(min=1).double().log(), 0.0)
        offset = odds.float()[:, None].to(energies.device)
    elif prior == "constant":
        offset = math.log(probability / (1 - probability))
    else:
        raise ValueError(f"prior must be one of {PRIORS}, not {prior!r}")
    return energies.float() + log_q.float() + offset


def counted(ordinary: torch.Tensor) -> torch.Tensor:
    """The positions that carry loss: ordinary ones of rows with n >= 2, (batch, length) bool."""
    return ordinary & (ordinary.sum(1, keepdim=True) >= 2)


def electric_loss(
    energies: torch.Tensor,
    log_q: torch.Tensor,
    chosen: torch.Tensor,
    ordinary: torch.Tensor,
    prior: str = "sequence",
    probability: float = 0.15,
) -> torch.Tensor:
    """Algorithm 2's loss summed over the counted positions (see the module notes): a scalar.

    energies: (batch, length), E(x~)_t of Electric on the corrupted sequence; log_q: (batch,
    length), log q(x~_t | x_{-t}) from `corrupt`; chosen: (batch, length) bool, the replaced
    positions (noise, whatever was drawn); ordinary: (batch, length) bool.
    """
    s = noise_logits(energies, log_q, ordinary, prior, probability)
    mask = counted(ordinary)
    return logistic_nce(s[mask], chosen[mask]).sum()
