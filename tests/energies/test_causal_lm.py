"""Causal-LM energy: equal to a naive per-sentence loop, independent of batching and order."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from textebm.energies import CausalLMEnergy, SequenceError
from textebm.energies.causal_lm import frame

LONG = " ".join(["the cat sat on the mat ."] * 30)  # 210 tokens, the tiny GPT-2 takes 128


@torch.no_grad()
def naive_nll(model, tokenizer, text: str, start: int) -> list[float]:
    """-log p(x_t | x_<t) for each token after `start`, eos included: one sentence, one full
    forward pass, log-softmax over every position, then the target picked at each position."""
    ids = [start, *tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
    logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    return [-float(log_probs[t - 1, ids[t]]) for t in range(1, len(ids))]


def test_frame_is_bos_text_eos_and_flags_drop_the_ends(clm):
    _, tokenizer = clm
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    cat, sat = tokenizer.convert_tokens_to_ids(["cat", "sat"])
    assert frame(tokenizer, ["cat sat", "cat"]) == [[bos, cat, sat, eos], [bos, cat, eos]]
    assert frame(tokenizer, ["cat sat"], end=False) == [[bos, cat, sat]]
    assert frame(tokenizer, ["cat sat"], start=False) == [[cat, sat, eos]]


@pytest.mark.parametrize("batch_tokens", [1, 20, 8192])
def test_equals_naive_loop_whatever_the_batch_and_order(clm, sentences, batch_tokens):
    model, tokenizer = clm
    texts = [*sentences, "the cat", "a dog ran .", "sad"]
    shuffled = texts[:]
    random.Random(0).shuffle(shuffled)
    energy = CausalLMEnergy(model, tokenizer, batch_tokens=batch_tokens)
    for order in (texts, shuffled):
        for item in energy.score_texts(order):
            expected = naive_nll(model, tokenizer, item.text, tokenizer.bos_token_id)
            assert item.token_energies == pytest.approx(expected, abs=1e-4)
            assert item.energy == pytest.approx(sum(expected), abs=1e-4)
            words = tokenizer.tokenize(item.text)
            assert item.tokens == [*words, "[SEP]"] and item.n_tokens == len(words) + 1


def test_temperature_divides_every_term(clm, sentences):
    cold = CausalLMEnergy(*clm).score_texts(sentences)
    hot = CausalLMEnergy(*clm, temperature=2.5).score_texts(sentences)
    for a, b in zip(cold, hot, strict=True):
        assert b.energy == pytest.approx(a.energy / 2.5, abs=1e-5)
        assert b.token_energies == pytest.approx([t / 2.5 for t in a.token_energies], abs=1e-5)


@pytest.mark.parametrize("batch_tokens", [1, 15, 40])
def test_token_budget_bounds_every_pass(clm, sentences, batch_tokens):
    model, tokenizer = clm
    shapes = []
    handle = model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    try:
        energy = CausalLMEnergy(model, tokenizer, batch_tokens=batch_tokens)
        energy.score_texts(sentences * 3)
    finally:
        handle.remove()
    assert all(n * length <= batch_tokens or n == 1 for n, length in shapes)
    assert energy.cost.calls == len(shapes)
    assert energy.cost.sequences == sum(n for n, _ in shapes) == 3 * len(sentences)
    assert energy.cost.tokens == sum(n * length for n, length in shapes)


def test_padded_batch_call_scores_each_row_alone(clm, sentences):
    model, tokenizer = clm
    energy = CausalLMEnergy(model, tokenizer, batch_tokens=64)
    rows = frame(tokenizer, sentences)
    length = max(map(len, rows))
    input_ids = torch.tensor([row + [0] * (length - len(row)) for row in rows])
    attention_mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in rows])
    output = energy(input_ids, attention_mask)
    assert output.scored.tolist() == [
        [False] + [True] * (len(row) - 1) + [False] * (length - len(row)) for row in rows
    ]
    assert (output.token_energies[~output.scored] == 0).all()
    for i, (text, row) in enumerate(zip(sentences, rows, strict=True)):
        expected = naive_nll(model, tokenizer, text, tokenizer.bos_token_id)
        assert output.token_energies[i, 1 : len(row)].tolist() == pytest.approx(expected, abs=1e-4)
        alone = energy(torch.tensor([row]))
        assert float(alone.energy[0]) == pytest.approx(float(output.energy[i]), abs=1e-4)


def test_gpt2_style_tokenizer_starts_from_eos(clm, sentences):
    """Where bos is eos, a line follows the previous line's eos: eos is the context."""
    model, tokenizer = clm
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.bos_token = tokenizer.eos_token
    eos = tokenizer.eos_token_id
    assert frame(tokenizer, ["cat"])[0] == [eos, tokenizer.convert_tokens_to_ids("cat"), eos]
    for item in CausalLMEnergy(model, tokenizer).score_texts(sentences):
        expected = naive_nll(model, tokenizer, item.text, eos)
        assert item.token_energies == pytest.approx(expected, abs=1e-4)


def test_long_and_empty_texts(clm):
    energy = CausalLMEnergy(*clm)
    with pytest.raises(SequenceError, match="212 tokens, more than the model's maximum of 128"):
        energy.encode(["the cat", LONG])
    with pytest.raises(SequenceError, match="no tokens to score") as error:
        energy.encode(["the cat", "the", ""])
    assert error.value.index == 2
    (item,) = energy.score_texts([LONG], truncate=True)
    assert item.n_tokens == 127 and item.tokens[-1] == "[SEP]"  # 128 minus bos
    assert item.tokens[:-1] == clm[1].tokenize(LONG)[:126]


def test_bad_settings(clm):
    with pytest.raises(ValueError, match="temperature must be positive"):
        CausalLMEnergy(*clm, temperature=0)
    with pytest.raises(ValueError, match="batch_tokens must be positive"):
        CausalLMEnergy(*clm, batch_tokens=0)
    tokenizer = copy.deepcopy(clm[1])
    tokenizer.eos_token = None
    with pytest.raises(ValueError, match="no eos token"):
        CausalLMEnergy(clm[0], tokenizer)
