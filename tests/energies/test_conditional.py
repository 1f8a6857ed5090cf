"""Conditional masked-LM energies: equal to a naive per-position loop, the source encoded once."""

from __future__ import annotations

import pytest
import torch

from textebm.data.padding import right_pad
from textebm.energies import Condition, ConditionalMaskedLMEnergy, MaskedLMEnergy

SOURCES = ["the cat sat on the mat .", "dogs ran in the park", "a bird"]
TARGETS = ["a cat sat .", "the dogs ran in a park today", "birds"]


def _batch(tokenizer, texts):
    ids, mask = right_pad([tokenizer(t)["input_ids"] for t in texts], tokenizer.pad_token_id)
    return ids, mask


def _condition(tokenizer, sources=SOURCES) -> Condition:
    ids, mask = _batch(tokenizer, sources)
    return Condition(input_ids=ids, attention_mask=mask)


def naive_energy(model, tokenizer, kind: str, source: str, target: str) -> float:
    """Independently of the fast path: encode the source alone, then one decode per position of
    the target with that position masked, summing -log softmax (norm) or -logit (raw)."""
    source_ids = torch.tensor([tokenizer(source)["input_ids"]])
    target_ids = tokenizer(target)["input_ids"]
    with torch.no_grad():
        states = model.encode(source_ids).last_hidden_state
        total = 0.0
        for t in range(1, len(target_ids) - 1):  # not [CLS] (first) nor [SEP] (last)
            copy = list(target_ids)
            copy[t] = tokenizer.mask_token_id
            logits = model.decode(torch.tensor([copy]), None, states)[0, t]
            if kind == "norm":
                total -= float(torch.log_softmax(logits, dim=-1)[target_ids[t]])
            else:
                total -= float(logits[target_ids[t]])
    return total


@pytest.mark.parametrize("kind", ["norm", "raw"])
def test_energy_equals_a_naive_per_position_loop(cmlm, kind):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer, kind=kind, temperature=2.0)
    ids, mask = _batch(tokenizer, TARGETS)
    output = energy(ids, mask, condition=_condition(tokenizer))
    expected = [
        naive_energy(model, tokenizer, kind, s, t) / 2.0
        for s, t in zip(SOURCES, TARGETS, strict=True)
    ]
    assert output.energy.tolist() == pytest.approx(expected, abs=1e-4)
    assert energy.score_pairs(SOURCES, TARGETS) == pytest.approx(expected, abs=1e-4)
    # one masked copy per content token, nothing for [CLS] / [SEP] / padding
    assert energy.cost.sequences == 2 * int((mask.sum(dim=1) - 2).sum())


def test_the_source_matters(cmlm):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    ids, mask = _batch(tokenizer, TARGETS)
    given = energy(ids, mask, condition=_condition(tokenizer)).energy
    swapped = energy(ids, mask, condition=_condition(tokenizer, SOURCES[::-1])).energy
    assert not torch.allclose(given, swapped, atol=1e-3)


def test_each_source_is_encoded_once(cmlm, monkeypatch):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    calls = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda *a, **k: calls.append(a[0].shape) or encode(*a))
    ids, mask = _batch(tokenizer, TARGETS)
    condition = _condition(tokenizer)
    first = energy(ids, mask, condition=condition).energy
    for _ in range(3):  # the same sources again, in another order and as a subset
        energy(ids, mask, condition=condition)
        energy(ids[[2, 0]], mask[[2, 0]], condition=condition.select(torch.tensor([2, 0])))
        energy.decode_copies(ids, mask, condition)
    assert len(calls) == 1 and calls[0][0] == 3  # one encoder call, three sentences
    assert energy.encoder_cost.calls == 1 and energy.encoder_cost.sequences == 3
    # a repeated source inside a batch is encoded once too
    twice = Condition(input_ids=condition.input_ids[[1, 1]], attention_mask=None)
    energy.clear_cache()
    energy(ids[:2], mask[:2], condition=twice)
    assert calls[-1][0] == 1
    assert torch.allclose(energy(ids, mask, condition=condition).energy, first, atol=1e-5)


def test_the_cache_keeps_at_most_cache_size_sources(cmlm):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer, cache_size=2)
    ids, mask = _batch(tokenizer, TARGETS)
    energy(ids, mask, condition=_condition(tokenizer))
    assert len(energy._sources) == 2
    with pytest.raises(ValueError, match="cache_size"):
        ConditionalMaskedLMEnergy(model, tokenizer, cache_size=0)


def test_length_log_probs_come_from_the_cached_encoding(cmlm):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    condition = _condition(tokenizer)
    log_probs = energy.length_log_probs(condition)
    with torch.no_grad():
        direct = model.predict_length(model.encode(condition.input_ids, condition.attention_mask))
    assert torch.allclose(log_probs, direct, atol=1e-5)
    energy.length_log_probs(condition)
    assert energy.encoder_cost.calls == 1


def test_bad_conditions_and_models_are_refused(cmlm, wordlevel):
    model, tokenizer = cmlm
    energy = ConditionalMaskedLMEnergy(model, tokenizer)
    ids, mask = _batch(tokenizer, TARGETS)
    with pytest.raises(ValueError, match="given its source"):
        energy(ids, mask)
    with pytest.raises(ValueError, match="3 targets"):
        energy(ids, mask, condition=_condition(tokenizer, SOURCES[:2]))
    with pytest.raises(ValueError, match="needs the source"):
        energy(ids, mask, condition=Condition(labels=torch.tensor([0, 1, 2])))
    with pytest.raises(ValueError, match="not a conditional masked LM"):
        ConditionalMaskedLMEnergy(*wordlevel)
    # and the unconditional energy still refuses a condition
    with pytest.raises(ValueError, match="unconditional"):
        MaskedLMEnergy(*wordlevel)(ids, mask, condition=_condition(tokenizer))
