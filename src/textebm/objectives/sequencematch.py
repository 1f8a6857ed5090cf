"""SequenceMatch (Cundy & Ermon, ICLR 2024): imitation learning over token sequences, as losses.

Generation is an MDP: a state s is a prefix (the prompt included), an action a is a token or
`<bkspc>` (which deletes the last token), and the policy is pi(a|s) = softmax_a l(a|s), l the LM's
logits. As in IQ-Learn (Garg et al. 2021) the logits are a soft Q-function:

    Q(s, a) = l(a|s),   V(s) = logsumexp_a l(a|s)   (so Q - V = log pi),
    r(s, a, s') = Q(s, a) - gamma V(s')            (the implicit reward).

Expectations are over the normalised discounted occupancy rho(s, a) = (1 - gamma) pi(a|s)
sum_t gamma^t P(s_t = s); one trajectory s_0 a_0 s_1 ... gives the unbiased estimate

    E_rho[f] ~ (1 - gamma) sum_t gamma^t f(s_t, a_t, s_{t+1}).                                (1)

**The f-divergence form** (IQ-Learn): minimise

    L_phi = -E_{rho_data}[phi(r)] + (1 - gamma) E_{s_0}[V(s_0)],  phi(x) = -f*(-x),

with phi the identity, chi^2 (f(u) = (u - 1)^2, phi(x) = x - x^2/4) or IQ-Learn's KL
(phi(x) = -exp(-(x + 1))). The V-term telescopes over the occupancy of *any* policy:
(1 - gamma) sum_t gamma^t (V(s_t) - gamma V(s_{t+1})) = (1 - gamma) V(s_0) on every complete
trajectory, so it is estimated by (1) with f = dV = V(s) - gamma V(s') on data, model samples or
both. With phi the identity and the V-term on data, r - dV = Q(s_t, a_t) - V(s_t) = log pi: the
loss is exactly the gamma-discounted negative log-likelihood (1 - gamma) sum_t gamma^t
(-log pi(a_t|s_t)).

**End of sequence.** `<eos>` leads to an absorbing state s_abs whose only action is `<eos>`,
back to s_abs. With one action, V(s_abs) = logsumexp over {eos} = l(eos|s_abs) =: V_abs (not the
logsumexp over the vocabulary: the model cannot leave s_abs), Q(s_abs, eos) = V_abs and so

    r_abs = (1 - gamma) V_abs,   dV_abs = (1 - gamma) V_abs,   log pi(eos|s_abs) = 0.

V_abs also closes the last real step: r_{n-1} = l(eos|s_{n-1}) - gamma V_abs. After n real
actions the absorbing steps t = n, n+1, ... add the geometric tail

    (1 - gamma) sum_{t >= n} gamma^t f_abs = gamma^n f_abs,                                    (2)

so an ended trajectory's weights (1 - gamma) gamma^t, t < n, plus gamma^n sum to one, and the
V-term is exactly (1 - gamma) V(s_0). A sequence that did not end (cut at a length limit) gets
no tail: its estimate stops at its last action (the V-term then misses gamma^n (1 - gamma) V(s_n)).

**The chi^2-mixture SequenceMatch loss.** IQ-Learn's derivation, with the reward regulariser
psi(r) = k E_mix[r^2] on the mixture rho_mix = (rho_data + rho_model) / 2, gives

    max_r E_data[r] - E_model[r] - k E_mix[r^2]
      = sum_{s,a} max_r [(rho_d - rho_m) r - k (rho_d + rho_m) r^2 / 2]
      = sum (rho_d - rho_m)^2 / (2 k (rho_d + rho_m))        (pointwise at r = (rho_d - rho_m) /
                                                               (k (rho_d + rho_m)))
      = chi^2(rho_data || rho_mix) / k,   chi^2(P || M) = sum (P - M)^2 / M
                                          = sum (rho_d - rho_m)^2 / (2 (rho_d + rho_m)).

So k = 1 is exactly the chi^2 divergence between the data and the mixture (bounded by 1, since
rho_data <= 2 rho_mix). The linear model term and the policy's entropy become the V-term as
above (-E_model[r] - H(pi) is minimised by the soft-optimal policy at -(1 - gamma) E[V(s_0)]),
and estimating the V-term on the mixture too, the loss to minimise is

    L_SM = -E_data[r] + w (E_data[r^2] + E_model[r^2]) + (E_data[dV] + E_model[dV]) / 2,
    w = k / 2 = 1/2.

The weight matters (it sets the divergence against the unit-temperature entropy): w scales the
divergence by 1 / (2 w). The reference note's c = 1/4 ("phi = x - x^2/4 over the mixture",
w = 1/8) is 4 chi^2, IQ-Learn's code default (alpha = 1/2, w = 1/4) is 2 chi^2; `square_weight`
exposes w. (The pointwise value is checked numerically in the tests.)

**What the optimum is.** This is entropy-regularised imitation: the saddle point minimises
chi^2(rho_data || rho_mix) / (2 w) minus the policy's causal entropy, so it is the data policy only
where the divergence term can be made zero. With model samples equal to the data the loss is
exactly the discounted NLL + 2 w E_data[r^2]; the logits of each state have a free additive
shift c(s) (pi unchanged), and r = 0 on every data step is reachable at pi = pi_data iff every
ended data sequence has the same discounted log-likelihood sum_t gamma^t log pi_data(a_t|s_t)
(e.g. deterministic data). Then pi_data is the minimiser; otherwise the r^2 term pulls pi away
from pi_data by O(w) (a free logit table on a depth-2 tree: 0.05 in probability at w = 1/2,
0.007 at w = 0.05), and a smaller w weighs the divergence more.

**Backspace loops (issue 13).** With `<bkspc>` the MDP has cycles (s -> s + y -> s), and the
entropy term pays for them: where the data do not pin a step, E_model[r^2] drives r to 0, i.e.
log pi(a|s) to gamma V(s') - V(s); for a backspace s + y -> s that is gamma V(s) - V(s + y), and
the soft value V(s) holds the entropy still to come in s, so deleting an uncertain token and
drawing it again earns its entropy twice at no reward cost. The chi^2 rewards are worth about
1 / (2 w) nats against that unit-temperature entropy, so at w = 1/2 the optimum backspaces far
above the data's rate where the last token was uncertain (a weak model's every token):
`eval.backspace_toy` reproduces it on a logit table (pi(<bkspc>) 0.45 against the data's 0.09,
the push coming from "model_square") and a smaller w removes it (0.15 at w = 0.05); on the
arithmetic task w = 0.05 brings the backspaces back to behavioural cloning's. Greedy decoding
then turns any backspace into an endless loop (`samplers.generate`'s `ban_deleted` notes).

**Masking.** Inserted noise tokens are not the expert's actions: at them (`imitate` False) the
data terms phi(r), r, r^2 and behavioural cloning are dropped, and kept at the `<bkspc>` that
follows. In the f-divergence form on the data alone the V-term is dropped at the noise steps too,
so that it pairs step by step with the reward term: each imitated step then gives
-r + dV = -log pi exactly and phi = identity stays the discounted maximum likelihood of the
imitated actions. Keeping dV at a noise step instead (telescoping the whole trajectory to
(1 - gamma) V(s_0)) leaves l(<bkspc> | s + noise) in -r with no V(s + noise) to normalise it:
shifting every logit of that state by +k lowers the identity loss by gamma^(t+1) (1 - gamma) k
without bound (and lets the KL form's logits drift). The chi^2-mixture loss keeps dV at every
data step, as derived (each half of its V-term telescopes): its r^2 terms bound that direction.

**Normalisation** is per batch, not per example: each term here is a sum over sequences of (1)
(over tokens for behavioural cloning); the loop divides by the number of sequences (tokens) of
the effective batch (`sequencematch_units`). Dividing each sequence by its own length would
weight a short sequence's tokens above a long one's and estimate no occupancy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Phi = Callable[[torch.Tensor], torch.Tensor]

PHI: dict[str, Phi] = {
    "identity": lambda x: x,
    "chi2": lambda x: x - x.square() / 4,
    "kl": lambda x: -torch.exp(-(x + 1)),
}


@dataclass(frozen=True)
class Steps:
    """What every loss needs of a batch of B trajectories of at most T actions.

    q: (B, T) Q(s_t, a_t) = l(a_t|s_t); value: (B, T) V(s_t); next_value: (B, T) V(s_{t+1}),
    V_abs after an eos that ends a sequence; absorbing_value: (B,) V_abs, 0 where not ended;
    mask: (B, T) bool real actions (a prefix of each row); imitate: (B, T) bool real actions the
    expert took; ended: (B,) bool; length: (B,) int64 real actions n. Padding steps hold zeros.
    """

    q: torch.Tensor
    value: torch.Tensor
    next_value: torch.Tensor
    absorbing_value: torch.Tensor
    mask: torch.Tensor
    imitate: torch.Tensor
    ended: torch.Tensor
    length: torch.Tensor


def read_steps(
    state_logits: torch.Tensor,
    actions: torch.Tensor,
    mask: torch.Tensor,
    ended: torch.Tensor,
    eos_id: int,
    imitate: torch.Tensor | None = None,
) -> Steps:
    """Q and V of every step, in float32, from the logits of the states.

    state_logits: (B, T+1, V), row t = l(.|s_t) (row n = the state after the last real action);
    actions: (B, T) int64; mask: (B, T) bool, real actions first, then padding; ended: (B,)
    bool, the last real action is eos; imitate: (B, T) bool or None (= every real action).
    Logits may be -inf for an action that is not allowed (`<bkspc>` at the prompt).
    """
    batch, steps = actions.shape
    if state_logits.shape[:2] != (batch, steps + 1):
        raise ValueError(f"state_logits {tuple(state_logits.shape)} needs shape (B, T+1, V)")
    if (mask.int().cummin(dim=1).values != mask.int()).any():
        raise ValueError("mask must hold each sequence's real actions first, then padding")
    logits = state_logits.float()
    length = mask.sum(dim=1)
    last = actions.gather(1, (length - 1).clamp(min=0)[:, None])[:, 0]
    if (ended & ((length == 0) | (last != eos_id))).any():
        raise ValueError("an ended sequence must end with the eos action")
    q = logits[:, :-1].gather(2, actions[:, :, None].clamp(min=0))[:, :, 0]
    all_values = logits.logsumexp(dim=2)  # (B, T+1)
    # In the absorbing state eos is the only action: V = l(eos|s_abs), the row after the eos.
    abs_row = logits.gather(1, length[:, None, None].expand(-1, 1, logits.shape[2]))[:, 0]
    absorbing_value = torch.where(ended, abs_row[:, eos_id], 0.0)
    is_absorbing = ended[:, None] & (torch.arange(steps + 1, device=mask.device) == length[:, None])
    all_values = torch.where(is_absorbing, absorbing_value[:, None], all_values)
    keep = imitate & mask if imitate is not None else mask
    zero = torch.zeros((), device=logits.device)
    return Steps(
        q=torch.where(mask, q, zero),
        value=torch.where(mask, all_values[:, :-1], zero),
        next_value=torch.where(mask, all_values[:, 1:], zero),
        absorbing_value=absorbing_value,
        mask=mask,
        imitate=keep,
        ended=ended,
        length=length,
    )


def implicit_reward(steps: Steps, gamma: float) -> torch.Tensor:
    """r_t = l(a_t|s_t) - gamma V(s_{t+1}): (B, T), 0 at padding."""
    return steps.q - gamma * steps.next_value


def occupancy_sum(
    per_step: torch.Tensor,
    where: torch.Tensor,
    absorbing: torch.Tensor,
    steps: Steps,
    gamma: float,
) -> torch.Tensor:
    """Estimate (1) per sequence: (B,). per_step: (B, T) f(s_t, a_t, s_t+1), counted where
    `where` (B, T) bool; absorbing: (B,) f in the absorbing state, added as the tail (2) to the
    sequences that ended."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), not {gamma}")
    t = torch.arange(per_step.shape[1], device=per_step.device, dtype=torch.float32)
    body = torch.where(where, (1 - gamma) * gamma**t * per_step, 0.0).sum(dim=1)
    tail = gamma ** steps.length.float() * absorbing
    return body + torch.where(steps.ended, tail, 0.0)


def value_term(steps: Steps, gamma: float, imitated_only: bool = False) -> torch.Tensor:
    """(1 - gamma) E[V(s_0)] by telescoping: (1) with f = V(s) - gamma V(s'), per sequence (B,).

    imitated_only: sum over the imitated steps alone (noise steps dropped; module notes), which
    no longer telescopes to V(s_0) but pairs with the data reward term step by step."""
    dv = steps.value - gamma * steps.next_value
    where = steps.imitate if imitated_only else steps.mask
    return occupancy_sum(dv, where, (1 - gamma) * steps.absorbing_value, steps, gamma)


def reward_term(steps: Steps, gamma: float, phi: Phi) -> torch.Tensor:
    """E_rho[phi(r)] over the imitated steps and the absorbing tail, per sequence: (B,)."""
    r = implicit_reward(steps, gamma)
    r_abs = (1 - gamma) * steps.absorbing_value
    return occupancy_sum(phi(r), steps.imitate, phi(r_abs), steps, gamma)


def f_divergence_loss(
    data: Steps, gamma: float, phi: str | Phi = "chi2", value_steps: Steps | None = None
) -> dict[str, torch.Tensor]:
    """IQ-Learn's loss -E_data[phi(r)] + (1 - gamma) E[V(s_0)], as two sums over sequences.

    phi: a name in PHI or a function; value_steps: the trajectories the V-term is estimated on
    (default: the data's imitated steps, so that identity phi is the discounted NLL of the
    imitated actions). Returns {"reward": a sum over the data sequences, "value": a sum over
    value_steps' sequences (normalise it by their number)}.
    """
    phi = PHI[phi] if isinstance(phi, str) else phi
    if value_steps is None:
        value = value_term(data, gamma, imitated_only=True)
    else:
        value = value_term(value_steps, gamma)
    return {"reward": -reward_term(data, gamma, phi).sum(), "value": value.sum()}


def sequencematch_chi2_loss(
    data: Steps, model: Steps, gamma: float, square_weight: float = 0.5
) -> dict[str, torch.Tensor]:
    """L_SM = -E_data[r] + w (E_data[r^2] + E_model[r^2]) + (E_data[dV] + E_model[dV]) / 2.

    Each term is a sum over its batch's sequences (data: B_d, model: B_m); w = 1/2 makes the
    optimum chi^2(rho_data || (rho_data + rho_model) / 2) exactly (module notes).
    """
    identity, square = PHI["identity"], torch.square
    return {
        "data_reward": -reward_term(data, gamma, identity).sum(),
        "data_square": square_weight * reward_term(data, gamma, square).sum(),
        "model_square": square_weight * reward_term(model, gamma, square).sum(),
        "data_value": value_term(data, gamma).sum() / 2,
        "model_value": value_term(model, gamma).sum() / 2,
    }


def behavioural_cloning_loss(steps: Steps) -> dict[str, torch.Tensor]:
    """{"bc": sum of -log pi(a_t|s_t) = V(s_t) - l(a_t|s_t) over the imitated actions}.

    Undiscounted maximum likelihood, eos included, noise tokens excluded (a sum over tokens)."""
    return {"bc": torch.where(steps.imitate, steps.value - steps.q, 0.0).sum()}


def sequencematch_units(
    data_imitate: torch.Tensor, data_mask: torch.Tensor, model_sequences: int
) -> dict[str, int]:
    """The normaliser of every term above: sequences for the occupancy terms, imitated tokens
    for "bc". data_imitate, data_mask: (B_d, T) bool; model_sequences: B_m."""
    data_sequences = data_mask.shape[0]
    return {
        "reward": data_sequences,
        "value": data_sequences,
        "data_reward": data_sequences,
        "data_square": data_sequences,
        "model_square": model_sequences,
        "data_value": data_sequences,
        "model_value": model_sequences,
        "bc": int((data_imitate & data_mask).sum()),
    }
