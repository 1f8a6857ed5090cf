"""The backspace loop of issue 13 on the tabular toy (`textebm.eval.backspace_toy`): a table of
behavioural cloning and SequenceMatch-chi^2 runs over the square weight w and the BC weight alpha,
and which loss terms push log pi(<bkspc>) where the loop happens. About a minute on one core.

    OMP_NUM_THREADS=1 python experiments/arithmetic/backspace_loop_toy.py [--out DIR]

Writes OUT/backspace_loop_toy.md (default experiments/arithmetic/results).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from textebm.eval.backspace_toy import (
    ToyConfig,
    log_policy_push,
    noisy_answers,
    rollout,
    train_toy,
)


def describe(config: ToyConfig) -> list[str]:
    states, table = train_toy(config)
    generator = torch.Generator().manual_seed(1)
    ends = [(0, y) for y in range(config.digits)]
    backspace = max(float(states.policy(table, s)[config.backspace]) for s in ends)
    eos = min(float(states.policy(table, s)[config.eos]) for s in ends)
    (greedy,) = rollout(states, table, 1, generator, greedy=True)
    (banned,) = rollout(states, table, 1, generator, greedy=True, ban_deleted=True)
    samples = rollout(states, table, 1000, generator)
    ended = sum(s.ended for s in samples) / len(samples)
    name = "SM-chi2" if config.sequencematch else "BC"
    weights = f"{config.bc_weight:g} | {config.square_weight:g}" if config.sequencematch else "|"
    return [
        f"| {name} | {weights} | {backspace:.3f} | {eos:.3f} | {ended:.3f} | "
        f"{' '.join(map(str, greedy.actions))} | {' '.join(map(str, banned.actions))} |"
    ]


def pushes(config: ToyConfig) -> list[str]:
    states, table = train_toy(config)
    generator = torch.Generator().manual_seed(3)
    data = noisy_answers(config, 4000, generator)
    samples = rollout(states, table, 4000, generator)
    lines = []
    for state in [(0,), (0, 2)]:
        push = log_policy_push(states, table, data, samples, state)
        terms = ", ".join(f"{k} {float(v[config.backspace]):+.4f}" for k, v in push.items())
        lines.append(f"- state {state}: {terms}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="experiments/arithmetic/results")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = args.steps
    lines = [
        "# The backspace loop on the tabular toy (issue 13)",
        "",
        "Answer `0 Y eos`, Y uniform over 3 digits, noise rate 0.1 (the data's pi(<bkspc>) at "
        "(0, y) is 0.1 / 1.1 = 0.091); gamma 0.8, BC warm-up 100 steps, "
        f"{steps} steps in all, Adam 0.05 on a free logit table (`textebm.eval.backspace_toy`). "
        "Digits are 0-2, eos 3, <bkspc> 4.",
        "",
        "| method | alpha | w | pi(<bkspc>) at (0, y), max over y | pi(eos) at (0, y), min "
        "| rollouts ended | greedy | greedy, deleted tokens banned |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += describe(ToyConfig(sequencematch=False, steps=steps))
    for alpha in (0.0, 0.5):
        for w in (0.5, 0.2, 0.05, 0.01):
            lines += describe(ToyConfig(bc_weight=alpha, square_weight=w, steps=steps))
            print(lines[-1], flush=True)
    lines += [
        "",
        "How a gradient step of each loss term moves log pi(<bkspc>) (alpha 0, w 0.5, 400 steps; "
        "4,000 data and 4,000 model trajectories; positive: more backspace):",
        "",
        *pushes(ToyConfig()),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "backspace_loop_toy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
