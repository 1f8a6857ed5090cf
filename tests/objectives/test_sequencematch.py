"""SequenceMatch losses against hand-computed cases and a naive unrolled reference."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.objectives.sequencematch import (
    PHI,
    behavioural_cloning_loss,
    f_divergence_loss,
    occupancy_sum,
    read_steps,
    sequencematch_chi2_loss,
    sequencematch_units,
    value_term,
)

EOS, BKSPC, VOCAB = 2, 4, 5
NEG = float("-inf")
L2, L3, L4, L5 = math.log(2), math.log(3), math.log(4), math.log(5)


def three_token_example():
    """Data: actions 0, 1, eos (ended), gamma = 1/2. Model sample: actions 1, 0, cut (not ended).

    Data rows (V = logsumexp, except the absorbing row 3 where V_abs = l(eos) = log 3):
      row 0 [log 2, 0, 0]: q_0 = log 2, V_0 = log 4;   row 1 [0, log 3, 0]: q_1 = log 3, V_1 = log 5
      row 2 [0, 0, log 2]: q_2 = log 2, V_2 = log 4;   row 3 [0, 0, log 3]: V_abs = log 3.
    Model rows: [log 2, 0, 0] V = log 4; [0, 0, 0] V = log 3; [log 3, 0, 0] V = log 5; q = 0, 0.
    """
    data_logits = torch.tensor([[[L2, 0, 0], [0, L3, 0], [0, 0, L2], [0, 0, L3]]])
    model_logits = torch.tensor([[[L2, 0, 0], [0, 0, 0], [L3, 0, 0]]])
    data = read_steps(
        data_logits,
        torch.tensor([[0, 1, EOS]]),
        torch.ones(1, 3, dtype=torch.bool),
        torch.tensor([True]),
        EOS,
    )
    model = read_steps(
        model_logits,
        torch.tensor([[1, 0]]),
        torch.ones(1, 2, dtype=torch.bool),
        torch.tensor([False]),
        EOS,
    )
    return data, model


def test_three_token_example_by_hand():
    data, model = three_token_example()
    g = 0.5
    # r_t = q_t - g V_{t+1}; the absorbing step r_abs = (1 - g) V_abs; weights (1 - g) g^t =
    # 1/2, 1/4, 1/8 and the tail g^3 = 1/8.
    r = [L2 - L5 / 2, L3 - L4 / 2, L2 - L3 / 2]
    r_abs = L3 / 2
    w, tail = [1 / 2, 1 / 4, 1 / 8], 1 / 8

    def expect(phi):
        return sum(wt * phi(rt) for wt, rt in zip(w, r, strict=True)) + tail * phi(r_abs)

    chi2 = expect(lambda x: x - x * x / 4)
    kl = expect(lambda x: -math.exp(-(x + 1)))
    # The V-term telescopes to (1 - g) V_0 = log 4 / 2 = log 2.
    dv = [L4 - L5 / 2, L5 - L4 / 2, L4 - L3 / 2]
    value = sum(wt * d for wt, d in zip(w, dv, strict=True)) + tail * (1 - g) * L3
    assert math.isclose(value, L2, rel_tol=1e-12)
    for phi, expected in (("chi2", chi2), ("kl", kl), ("identity", expect(lambda x: x))):
        terms = f_divergence_loss(data, g, phi)
        assert math.isclose(float(terms["reward"]), -expected, rel_tol=1e-5)
        assert math.isclose(float(terms["value"]), value, rel_tol=1e-5)
    # Behavioural cloning: -log(2/4) - log(3/5) - log(2/4), eos included, no tail.
    bc = -math.log(1 / 2) - math.log(3 / 5) - math.log(1 / 2)
    assert math.isclose(float(behavioural_cloning_loss(data)["bc"]), bc, rel_tol=1e-5)
    # Model sample: r = 0 - g V_1, 0 - g V_2 with weights 1/2, 1/4 and no tail.
    model_r = [-L3 / 2, -L5 / 2]
    model_square = model_r[0] ** 2 / 2 + model_r[1] ** 2 / 4
    model_value = (L4 - L3 / 2) / 2 + (L3 - L5 / 2) / 4  # = (1 - g)(V_0 - g^2 V_2)
    sm = sequencematch_chi2_loss(data, model, g)
    expected = {
        "data_reward": -expect(lambda x: x),
        "data_square": 0.5 * expect(lambda x: x * x),
        "model_square": 0.5 * model_square,
        "data_value": value / 2,
        "model_value": model_value / 2,
    }
    assert sm.keys() == expected.keys()
    for name, figure in expected.items():
        assert math.isclose(float(sm[name]), figure, rel_tol=1e-5), name


def random_batch(generator, ended, lengths, steps=7, noise_at=()):
    """Random logits with `<bkspc>` forbidden (-inf) at row 0; actions never the forbidden one."""
    batch = len(lengths)
    logits = torch.randn(batch, steps + 1, VOCAB, generator=generator, dtype=torch.float64) * 2
    logits[:, 0, BKSPC] = NEG
    actions = torch.randint(0, BKSPC, (batch, steps), generator=generator)
    actions[actions == EOS] = 0  # eos only where a sequence ends
    mask = torch.arange(steps) < torch.tensor(lengths)[:, None]
    actions[~mask] = -100  # padding: never read
    ended = torch.tensor(ended)
    for b in range(batch):
        if ended[b]:
            actions[b, lengths[b] - 1] = EOS
    imitate = mask.clone()
    for b, t in noise_at:
        imitate[b, t] = False
        actions[b, t + 1] = BKSPC
    return logits, actions, mask, imitate, ended


def reference(logits, actions, mask, imitate, ended, gamma, unroll=600):
    """Per-sequence terms by explicit loops: an ended sequence is continued for `unroll` explicit
    absorbing steps, whose logits allow eos only (all else -inf), so V = logsumexp throughout."""
    out = []
    for b in range(actions.shape[0]):
        n = int(mask[b].sum())
        rows = [logits[b, t].double() for t in range(n + 1)]
        acts, imit = actions[b, :n].tolist(), imitate[b, :n].tolist()
        if ended[b]:
            absorbing = torch.full((VOCAB,), NEG, dtype=torch.float64)
            absorbing[EOS] = rows[n][EOS]
            rows[n] = absorbing
            rows += [absorbing] * unroll
            acts += [EOS] * unroll
            imit += [True] * unroll
        sums = dict.fromkeys(["identity", "chi2", "kl", "square", "value", "nll", "bc"], 0.0)
        for t, a in enumerate(acts):
            weight = (1 - gamma) * gamma**t
            v, v_next = float(rows[t].logsumexp(0)), float(rows[t + 1].logsumexp(0))
            r = float(rows[t][a]) - gamma * v_next
            sums["value"] += weight * (v - gamma * v_next)
            if imit[t]:
                sums["identity"] += weight * r
                sums["chi2"] += weight * (r - r * r / 4)
                sums["kl"] += weight * -math.exp(-(r + 1))
                sums["square"] += weight * r * r
                sums["nll"] += weight * (v - float(rows[t][a]))
                if t < n:
                    sums["bc"] += v - float(rows[t][a])
        out.append(sums)
    return out


def test_terms_match_unrolled_reference_with_padding_noise_and_eos():
    generator = torch.Generator().manual_seed(0)
    ends, lengths = [True, False, True, False], [7, 5, 3, 7]
    batch = random_batch(generator, ends, lengths, noise_at=[(0, 2), (1, 0), (3, 4)])
    logits, actions, mask, imitate, ended = batch
    gamma = 0.9
    steps = read_steps(logits, actions, mask, ended, EOS, imitate)
    ref = reference(logits, actions, mask, imitate, ended, gamma)
    for phi in ("identity", "chi2", "kl"):
        got = f_divergence_loss(steps, gamma, phi)["reward"]
        assert math.isclose(float(got), -sum(s[phi] for s in ref), rel_tol=1e-5, abs_tol=1e-6)
    sm = sequencematch_chi2_loss(steps, steps, gamma, square_weight=0.3)
    assert math.isclose(float(sm["data_square"]), 0.3 * sum(s["square"] for s in ref), rel_tol=1e-5)
    per_sequence_value = value_term(steps, gamma)
    for b, s in enumerate(ref):
        assert math.isclose(float(per_sequence_value[b]), s["value"], rel_tol=1e-5, abs_tol=1e-6)
    bc = behavioural_cloning_loss(steps)["bc"]
    assert math.isclose(float(bc), sum(s["bc"] for s in ref), rel_tol=1e-5)


def test_value_term_telescopes_to_the_initial_value():
    generator = torch.Generator().manual_seed(1)
    logits, actions, mask, imitate, ended = random_batch(generator, [True, False], [4, 6])
    gamma = 0.8
    got = value_term(read_steps(logits, actions, mask, ended, EOS, imitate), gamma)
    v = logits.float().logsumexp(dim=2)
    # Ended: exactly (1 - gamma) V(s_0). Cut after n = 6: (1 - gamma)(V(s_0) - gamma^6 V(s_6)).
    assert math.isclose(float(got[0]), (1 - gamma) * float(v[0, 0]), rel_tol=1e-5)
    expected = (1 - gamma) * (float(v[1, 0]) - gamma**6 * float(v[1, 6]))
    assert math.isclose(float(got[1]), expected, rel_tol=1e-5)


def test_occupancy_weights_of_an_ended_sequence_sum_to_one():
    generator = torch.Generator().manual_seed(2)
    logits, actions, mask, _, ended = random_batch(generator, [True, True], [1, 5])
    steps = read_steps(logits, actions, mask, ended, EOS)
    ones = torch.ones_like(steps.q)
    total = occupancy_sum(ones, steps.mask, torch.ones(2), steps, 0.95)
    assert torch.allclose(total, torch.ones(2))


def test_identity_phi_is_discounted_maximum_likelihood():
    generator = torch.Generator().manual_seed(3)
    logits, actions, mask, _, ended = random_batch(generator, [True, False, True], [5, 7, 2])
    gamma = 0.7
    terms = f_divergence_loss(read_steps(logits, actions, mask, ended, EOS), gamma, "identity")
    log_pi = logits.log_softmax(dim=2)
    nll = 0.0
    for b in range(3):
        for t in range(int(mask[b].sum())):
            nll -= (1 - gamma) * gamma**t * float(log_pi[b, t, actions[b, t]])
    assert math.isclose(float(terms["reward"] + terms["value"]), nll, rel_tol=1e-5)


def test_noise_tokens_are_not_imitated_but_the_backspace_after_them_is():
    generator = torch.Generator().manual_seed(4)
    logits, actions, mask, imitate, ended = random_batch(generator, [True], [6], noise_at=[(0, 2)])
    gamma = 0.9

    def losses(logits, actions):
        steps = read_steps(logits, actions, mask, ended, EOS, imitate)
        terms = {**sequencematch_chi2_loss(steps, steps, gamma), **behavioural_cloning_loss(steps)}
        return {k: v for k, v in terms.items() if k in ("data_reward", "data_square", "bc")}

    before = losses(logits, actions)
    other_noise = actions.clone()
    other_noise[0, 2] = (actions[0, 2] + 1) % BKSPC
    assert all(torch.equal(before[k], v) for k, v in losses(logits, other_noise).items())
    bumped = logits.clone()
    bumped[0, 3, BKSPC] += 1.0  # l(<bkspc> | s_3): the imitated backspace
    assert all(not torch.equal(before[k], v) for k, v in losses(bumped, actions).items())
    # The data terms count the noise step with imitate True, and only then.
    imitated = read_steps(logits, actions, mask, ended, EOS)
    assert float(behavioural_cloning_loss(imitated)["bc"]) > float(before["bc"])


def test_chi2_weight_gives_the_chi2_divergence_against_the_mixture():
    """A bandit (gamma = 0: r = l(a|s_0), one step) with rho_data = (3/4, 1/4, 0), rho_model =
    (1/4, 1/4, 1/2) as sequence counts. max_r E_d[r] - E_m[r] - w(E_d[r^2] + E_m[r^2]) at the
    default w should be chi^2(rho_d || M), M = (1/2, 1/4, 1/4): (1/4)^2/(1/2) + 0 + (1/4)^2/(1/4)
    = 3/8."""
    data_actions = torch.tensor([[0], [0], [0], [1]])
    model_actions = torch.tensor([[0], [1], [2], [2]])
    rewards = torch.zeros(3, dtype=torch.float64)

    def objective(rewards):
        logits = torch.stack([rewards, torch.zeros(3, dtype=torch.float64)])  # rows s_0, s_1

        def steps(actions):
            return read_steps(
                logits.expand(4, 2, 3),
                actions,
                torch.ones(4, 1, dtype=torch.bool),
                torch.zeros(4, dtype=torch.bool),
                EOS,
            )

        sm = sequencematch_chi2_loss(steps(data_actions), steps(model_actions), 0.0)
        model_linear = rewards[model_actions[:, 0]].mean()  # E_model[r], by hand
        return -(sm["data_reward"] + sm["data_square"] + sm["model_square"]) / 4 - model_linear

    # The objective is quadratic in the rewards: one Newton step from 0 reaches its maximum.
    gradient = torch.autograd.functional.jacobian(objective, rewards)
    hessian = torch.autograd.functional.hessian(objective, rewards)
    best = rewards - torch.linalg.solve(hessian.double(), gradient.double())
    assert math.isclose(float(objective(best)), 3 / 8, rel_tol=1e-5)


def test_gradients_are_finite_with_forbidden_actions():
    generator = torch.Generator().manual_seed(5)
    batch = random_batch(generator, [True, False], [5, 7], noise_at=[(0, 1)])
    logits, actions, mask, imitate, ended = batch
    logits = logits.float().requires_grad_()
    data = read_steps(logits, actions, mask, ended, EOS, imitate)
    terms = {
        **sequencematch_chi2_loss(data, data, 0.99),
        **behavioural_cloning_loss(data),
        **{f"kl_{k}": v for k, v in f_divergence_loss(data, 0.99, PHI["kl"]).items()},
    }
    sum(terms.values()).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_normalisation_is_per_batch_padding_free_and_split_invariant():
    generator = torch.Generator().manual_seed(6)
    logits, actions, mask, imitate, ended = random_batch(generator, [True, False], [3, 6])
    gamma = 0.9

    def terms(logits, actions, mask, imitate, ended):
        steps = read_steps(logits, actions, mask, ended, EOS, imitate)
        return {**sequencematch_chi2_loss(steps, steps, gamma), **behavioural_cloning_loss(steps)}

    whole = terms(logits, actions, mask, imitate, ended)
    halves = [
        terms(
            logits[i : i + 1],
            actions[i : i + 1],
            mask[i : i + 1],
            imitate[i : i + 1],
            ended[i : i + 1],
        )
        for i in range(2)
    ]
    # Two more padding steps with garbage logits change nothing.
    padded = terms(
        torch.cat([logits, torch.randn(2, 2, VOCAB, dtype=torch.float64) * 9], dim=1),
        torch.cat([actions, torch.zeros(2, 2, dtype=torch.long)], dim=1),
        torch.cat([mask, torch.zeros(2, 2, dtype=torch.bool)], dim=1),
        torch.cat([imitate, torch.ones(2, 2, dtype=torch.bool)], dim=1),
        ended,
    )
    for name in whole:
        assert torch.allclose(whole[name], halves[0][name] + halves[1][name])
        assert torch.allclose(whole[name], padded[name])
    units = sequencematch_units(imitate, mask, model_sequences=5)
    assert units["data_reward"] == 2 and units["model_square"] == 5 and units["bc"] == 9


def test_bad_inputs_are_refused():
    logits = torch.zeros(1, 4, VOCAB)
    with pytest.raises(ValueError, match="padding"):
        read_steps(
            logits,
            torch.zeros(1, 3, dtype=torch.long),
            torch.tensor([[True, False, True]]),
            torch.tensor([False]),
            EOS,
        )
    with pytest.raises(ValueError, match="eos"):
        read_steps(
            logits,
            torch.zeros(1, 3, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.bool),
            torch.tensor([True]),
            EOS,
        )
    with pytest.raises(ValueError, match=r"T\+1"):
        read_steps(
            logits[:, :3],
            torch.zeros(1, 3, dtype=torch.long),
            torch.ones(1, 3, dtype=torch.bool),
            torch.tensor([False]),
            EOS,
        )
    steps = read_steps(
        logits,
        torch.zeros(1, 3, dtype=torch.long),
        torch.ones(1, 3, dtype=torch.bool),
        torch.tensor([False]),
        EOS,
    )
    with pytest.raises(ValueError, match="gamma"):
        value_term(steps, 1.0)


def test_identity_phi_with_noise_is_the_discounted_nll_of_the_imitated_actions():
    """With a noise token at step 2 (and <bkspc> at 3) the identity loss is sum over imitated t of
    (1 - g) g^t (-log pi), so a shift of every logit of the noisy state s_3 (pi unchanged) leaves
    it unchanged: a V-term over every step would lower it by g^3 (1 - g) per unit of shift."""
    generator = torch.Generator().manual_seed(7)
    batch = random_batch(generator, [True, False], [6, 7], noise_at=[(0, 2), (1, 4)])
    logits, actions, mask, imitate, ended = batch
    gamma = 0.8

    def identity(logits):
        terms = f_divergence_loss(
            read_steps(logits, actions, mask, ended, EOS, imitate), gamma, "identity"
        )
        return float(terms["reward"] + terms["value"])

    log_pi = logits.log_softmax(dim=2)
    nll = 0.0
    for b in range(2):
        for t in range(int(mask[b].sum())):
            if imitate[b, t]:
                nll -= (1 - gamma) * gamma**t * float(log_pi[b, t, actions[b, t]])
    assert math.isclose(identity(logits), nll, rel_tol=1e-6)
    shifted = logits.clone()
    shifted[0, 3] += 5.0  # the state after the noise token of sequence 0
    assert math.isclose(identity(shifted), nll, rel_tol=1e-6)

    # The V-term over every step (telescoping) would move by -g^3 (1 - g) * 5 under that shift.
    def telescoped(logits):
        steps = read_steps(logits, actions, mask, ended, EOS, imitate)
        reward = f_divergence_loss(steps, gamma, "identity")["reward"]
        return float(reward + value_term(steps, gamma).sum())

    drop = telescoped(logits) - telescoped(shifted)
    assert math.isclose(drop, gamma**3 * (1 - gamma) * 5.0, rel_tol=1e-5)


def test_chi2_with_model_samples_equal_to_data_is_discounted_nll_plus_squares():
    """-E_d[r] + (E_d[dV] + E_m[dV]) / 2 with E_m = E_d is E_d[-r + dV] = E_d[-log pi]."""
    generator = torch.Generator().manual_seed(8)
    logits, actions, mask, imitate, ended = random_batch(generator, [True, False, True], [5, 7, 2])
    gamma, w = 0.85, 0.3
    steps = read_steps(logits, actions, mask, ended, EOS, imitate)
    chi2 = sequencematch_chi2_loss(steps, steps, gamma, square_weight=w)
    identity = f_divergence_loss(steps, gamma, "identity")
    squares = sequencematch_chi2_loss(steps, steps, gamma, square_weight=1.0)["data_square"]
    assert math.isclose(
        float(sum(chi2.values())),
        float(identity["reward"] + identity["value"] + 2 * w * squares),
        rel_tol=1e-9,
    )
