"""The Electric energy: one pass per sentence, equal to a naive per-sentence loop over the model."""

from __future__ import annotations

import pytest
import torch

from textebm.energies import ElectricEnergy, SequenceError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiny model (hidden size 32) gains nothing from threads; on a busy machine extra
    threads make these tests several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def naive_electric(model, tokenizer, text: str) -> tuple[float, list[str], list[float]]:
    """The sentence alone, unpadded, through the model; its energy the sum of the per-token
    energies between [CLS] and [SEP] (the tiny tokenizers add exactly those two)."""
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    with torch.no_grad():
        energies = model(input_ids=torch.tensor([ids])).energies[0].tolist()
    terms = energies[1:-1]
    return sum(terms), tokenizer.convert_ids_to_tokens(ids[1:-1]), terms


def test_one_pass_scoring_equals_a_naive_loop(electric, sentences):
    model, tokenizer = electric
    energy = ElectricEnergy(model, tokenizer)
    scored = energy.score_texts(sentences)
    for item, text in zip(scored, sentences, strict=True):
        total, tokens, terms = naive_electric(model, tokenizer, text)
        assert item.text == text
        assert item.tokens == tokens
        assert item.energy == pytest.approx(total, abs=1e-4)
        assert item.token_energies == pytest.approx(terms, abs=1e-5)
        assert item.n_unk == 0 and not item.truncated
    # One sequence through the model per sentence, padding within max_padding (5%).
    assert energy.cost.sequences == len(sentences)
    real = sum(len(tokenizer(text)["input_ids"]) for text in sentences)
    assert real <= energy.cost.tokens <= 1.05 * real


def test_batch_and_order_do_not_change_the_energies(electric, sentences):
    model, tokenizer = electric
    reference = [item.energy for item in ElectricEnergy(model, tokenizer).score_texts(sentences)]
    backwards = ElectricEnergy(model, tokenizer).score_texts(sentences[::-1])
    assert [item.energy for item in backwards][::-1] == pytest.approx(reference, abs=1e-4)
    alone = ElectricEnergy(model, tokenizer, batch_tokens=1)  # one sentence per pass
    assert [item.energy for item in alone.score_texts(sentences)] == pytest.approx(
        reference, abs=1e-4
    )
    assert alone.cost.calls == len(sentences)
    doubled = ElectricEnergy(model, tokenizer).score_texts(sentences + sentences)
    assert [item.energy for item in doubled] == pytest.approx(reference * 2, abs=1e-4)


def test_token_tensors_in_energy_output(electric, sentences):
    """Called on padded token tensors: per-token terms at scored positions only, summing to E."""
    model, tokenizer = electric
    encoding = tokenizer(sentences, padding=True, return_tensors="pt")
    output = ElectricEnergy(model, tokenizer, temperature=2.0)(
        encoding["input_ids"], encoding["attention_mask"]
    )
    real = encoding["attention_mask"].sum(dim=1)
    assert output.scored.sum(dim=1).tolist() == (real - 2).tolist()  # all but [CLS] and [SEP]
    assert not output.scored[:, 0].any()
    assert torch.all(output.token_energies[~output.scored] == 0)
    assert torch.allclose(output.energy, output.token_energies.sum(dim=1))
    for row, text in enumerate(sentences):
        assert float(output.energy[row]) == pytest.approx(
            naive_electric(model, tokenizer, text)[0] / 2.0, abs=1e-4
        )


def test_temperature_divides_every_term(electric, sentences):
    model, tokenizer = electric
    plain = ElectricEnergy(model, tokenizer).score_texts(sentences)
    hot = ElectricEnergy(model, tokenizer, temperature=0.5).score_texts(sentences)
    for a, b in zip(plain, hot, strict=True):
        assert b.energy == pytest.approx(2 * a.energy, abs=1e-4)
        assert b.token_energies == pytest.approx([2 * t for t in a.token_energies], abs=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        ElectricEnergy(model, tokenizer, temperature=0.0)
    with pytest.raises(ValueError, match="batch_tokens"):
        ElectricEnergy(model, tokenizer, batch_tokens=0)


def test_unknown_words_are_scored_and_counted(electric):
    model, tokenizer = electric
    [item] = ElectricEnergy(model, tokenizer).score_texts(["the zebra sat"])
    assert item.tokens == ["the", "[UNK]", "sat"]
    assert item.n_unk == 1
    assert item.energy == pytest.approx(naive_electric(model, tokenizer, "the zebra sat")[0])


def test_bad_sequences_and_truncation(electric):
    model, tokenizer = electric
    energy = ElectricEnergy(model, tokenizer)
    with pytest.raises(SequenceError, match="no tokens to score") as error:
        energy.encode(["the cat", ""])
    assert error.value.index == 1
    long = " ".join(["cat"] * 200)  # 202 tokens with [CLS] and [SEP]; the model takes 128
    with pytest.raises(SequenceError, match="maximum of 128"):
        energy.encode([long])
    [item] = energy.score_texts([long], truncate=True)
    assert item.truncated and item.n_tokens == 126
    assert item.scored_text == " ".join(["cat"] * 126)
    ids = [tokenizer.cls_token_id] + [tokenizer.convert_tokens_to_ids("cat")] * 126
    with torch.no_grad():
        expected = model(input_ids=torch.tensor([[*ids, tokenizer.sep_token_id]])).energies
    assert item.energy == pytest.approx(float(expected[0, 1:-1].sum()), abs=1e-3)
