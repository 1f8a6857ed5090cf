"""`textebm verify`'s conditional toy: every target given a fixed source, enumerated; MH samples
exp(-E(y | x)) exactly, degenerate Gibbs does not, and the target depends on the source."""

from __future__ import annotations

import torch

from textebm.energies import Condition, ConditionalMaskedLMEnergy
from textebm.eval.exact import ExactSpace, toy_cmlm, tv_distance
from textebm.eval.verify import EXACT_TOLERANCE, VerifyConfig, conditional_rows, one_thread
from textebm.eval.verify_table import format_table


def test_mh_is_exact_on_the_conditional_toy_and_gibbs_is_not():
    config = VerifyConfig(enum_words=4, enum_length=3)
    with one_thread():
        rows = conditional_rows(config)
    assert len(rows) == 8 and all(row.passed for row in rows)
    for row in rows:
        assert row.states == 4**3 and row.energy.startswith("cmlm")
        if "Gibbs" in row.sampler:
            assert row.tv > 0.03
        else:
            assert row.tv <= EXACT_TOLERANCE and row.balance <= EXACT_TOLERANCE
    assert "cmlm-norm" in format_table(rows)


def test_the_enumerated_target_depends_on_the_source():
    model, tokenizer = toy_cmlm(4, seed=2, init_scale=10.0)
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    targets = []
    for source in ("red green blue", "pink pink red"):
        condition = Condition(input_ids=torch.tensor([tokenizer(source)["input_ids"]]))
        targets.append(ExactSpace(energy, 3, condition).target(1.0))
    assert tv_distance(*targets) > 0.01  # 0.04 here; exactly 0 if the source were ignored
