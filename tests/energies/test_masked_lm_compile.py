"""MaskedLMEnergy(compile=True): the same scores as the eager path, one compiled graph reused."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.energies.reference import naive_masked_lm_energies


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["norm", "raw"])
def test_compiled_scores_equal_eager_and_naive(wordlevel, sentences, kind):
    model, tokenizer = wordlevel
    torch._dynamo.reset()
    # A small budget makes several passes of different copy counts and lengths.
    eager = MaskedLMEnergy(model, tokenizer, kind=kind, batch_tokens=64).score_texts(sentences)
    compiled_energy = MaskedLMEnergy(model, tokenizer, kind=kind, batch_tokens=64, compile=True)
    compiled = compiled_energy.score_texts(sentences)
    reference = naive_masked_lm_energies(model, tokenizer, sentences, kind)
    for ours, theirs, terms in zip(compiled, eager, reference, strict=True):
        assert ours.tokens == theirs.tokens
        assert ours.token_energies == pytest.approx(theirs.token_energies, abs=1e-4)
        assert ours.energy == pytest.approx(sum(terms), abs=1e-4)


@pytest.mark.slow
def test_compiled_forward_is_not_recompiled_per_call(wordlevel, sentences):
    """The gathering hook is registered anew on every pass: that must not invalidate the graph,
    or every call would pay the compilation again."""
    from torch._dynamo.utils import counters

    model, tokenizer = wordlevel
    torch._dynamo.reset()
    energy = MaskedLMEnergy(model, tokenizer, batch_tokens=64, compile=True)
    energy.score_texts(sentences)  # compiles (static first shapes, then the dynamic graph)
    graphs = counters["stats"]["unique_graphs"]
    calls = energy.cost.calls
    energy.score_texts(list(reversed(sentences)))
    assert energy.cost.calls > calls
    assert counters["stats"]["unique_graphs"] == graphs
