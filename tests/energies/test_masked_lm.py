"""MaskedLMEnergy against the naive one-mask-at-a-time loop and hand-computed cases."""

from __future__ import annotations

import math
import random

import pytest
import torch

from textebm.energies import MaskedLMEnergy
from textebm.energies.masked_lm import pack_by_budget
from textebm.energies.reference import naive_masked_lm_energies

WORDPIECE_TEXTS = [
    "the unhappily gardeners sat .",
    "kindness rereads",
    "the cat sat on the mat .",
]


@pytest.mark.parametrize("kind", ["norm", "raw"])
@pytest.mark.parametrize("whole_word", [False, True])
@pytest.mark.parametrize("model_name", ["wordlevel", "wordpiece"])
def test_energies_equal_naive_loop(request, sentences, kind, whole_word, model_name):
    model, tokenizer = request.getfixturevalue(model_name)
    texts = WORDPIECE_TEXTS if model_name == "wordpiece" else sentences
    energy = MaskedLMEnergy(model, tokenizer, kind=kind, whole_word=whole_word, batch_tokens=64)
    scored = energy.score_texts(texts)
    reference = naive_masked_lm_energies(model, tokenizer, texts, kind, whole_word)
    for item, terms in zip(scored, reference, strict=True):
        assert item.n_tokens == len(terms)
        assert item.token_energies == pytest.approx(terms, abs=1e-4)
        assert item.energy == pytest.approx(sum(terms), abs=1e-4)


def test_whole_word_masks_later_subwords_only(wordpiece):
    """'unhappily' -> un ##happi ##ly: scoring `un` masks all three, `##happi` masks two,
    `##ly` only itself; single-piece words are scored exactly as without whole-word masking."""
    model, tokenizer = wordpiece
    text = "the unhappily cat"
    assert tokenizer.tokenize(text) == ["the", "un", "##happi", "##ly", "cat"]
    plain = MaskedLMEnergy(model, tokenizer).score_texts([text])[0].token_energies
    whole = MaskedLMEnergy(model, tokenizer, whole_word=True).score_texts([text])[0].token_energies

    ids = tokenizer(text)["input_ids"]  # [CLS] the un ##happi ##ly cat [SEP]
    mask = tokenizer.mask_token_id

    def masked_term(masked: list[int], target: int) -> float:
        copy = list(ids)
        for position in masked:
            copy[position] = mask
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([copy])).logits[0, target]
        return float(-torch.log_softmax(logits, -1)[ids[target]])

    assert whole[1] == pytest.approx(masked_term([2, 3, 4], 2), abs=1e-5)
    assert whole[2] == pytest.approx(masked_term([3, 4], 3), abs=1e-5)
    assert whole[3] == pytest.approx(plain[3], abs=1e-6)  # last piece: nothing after it
    assert whole[0] == pytest.approx(plain[0], abs=1e-6)
    assert whole[4] == pytest.approx(plain[4], abs=1e-6)
    assert abs(whole[1] - plain[1]) > 1e-3  # the variant really changes something


def _bias_only_model(model, bias: torch.Tensor):
    """A copy of `model` whose logits are `bias` at every position, whatever the input."""
    clone = type(model)(model.config).eval()
    clone.load_state_dict(model.state_dict())
    head = clone.get_output_embeddings()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(bias)
    return clone


def test_hand_computed_energies(wordlevel):
    """With logits = b at every position, for "the cat":
    norm = -(b[the] - lse(b)) - (b[cat] - lse(b)), raw = -b[the] - b[cat]; temperature divides."""
    model, tokenizer = wordlevel
    vocab = len(tokenizer)
    bias = torch.zeros(vocab)
    the, cat = tokenizer.convert_tokens_to_ids(["the", "cat"])
    bias[the], bias[cat] = 2.0, -1.0
    lse = math.log(vocab - 2 + math.exp(2.0) + math.exp(-1.0))
    clone = _bias_only_model(model, bias)
    norm = MaskedLMEnergy(clone, tokenizer, kind="norm").score_texts(["the cat"])[0]
    raw = MaskedLMEnergy(clone, tokenizer, kind="raw", temperature=0.5).score_texts(["the cat"])[0]
    assert norm.token_energies == pytest.approx([lse - 2.0, lse + 1.0], abs=1e-5)
    assert norm.energy == pytest.approx(2 * lse - 1.0, abs=1e-5)
    assert raw.token_energies == pytest.approx([-4.0, 2.0], abs=1e-6)
    assert raw.energy == pytest.approx(-2.0, abs=1e-6)


def test_invariant_to_batch_size_and_order(wordlevel, sentences):
    model, tokenizer = wordlevel
    texts = sentences * 3
    baseline = [s.energy for s in MaskedLMEnergy(model, tokenizer).score_texts(texts)]
    shuffled = list(range(len(texts)))
    random.Random(0).shuffle(shuffled)
    for batch_tokens in (1, 20, 100, 100_000):
        energy = MaskedLMEnergy(model, tokenizer, batch_tokens=batch_tokens)
        scores = energy.score_texts([texts[i] for i in shuffled])
        for position, index in enumerate(shuffled):
            assert scores[position].energy == pytest.approx(baseline[index], abs=1e-4)


def test_cost_counts_one_sequence_per_scored_token(wordlevel, sentences):
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer, batch_tokens=30)
    scored = energy.score_texts(sentences)
    n_tokens = sum(s.n_tokens for s in scored)
    assert energy.cost.sequences == n_tokens
    # Each pass holds at most floor(30 / length) copies, so the calls are at least this many.
    assert energy.cost.calls >= math.ceil(energy.cost.tokens / 30)
    assert energy.cost.tokens <= 30 * energy.cost.calls


def test_conditionals_give_the_masked_distributions(wordlevel, sentences):
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer, kind="raw")
    batch = tokenizer(sentences[:2], padding=True, return_tensors="pt")
    output = energy(batch["input_ids"], batch["attention_mask"], return_conditionals=True)
    conditionals = output.conditionals
    assert torch.equal(conditionals.computed, output.scored)
    for b, t in zip(*output.scored.nonzero(as_tuple=True), strict=True):
        copy = batch["input_ids"][b : b + 1].clone()
        copy[0, t] = tokenizer.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=copy, attention_mask=batch["attention_mask"][b : b + 1])
        expected = torch.log_softmax(logits.logits[0, t], -1)
        got = conditionals.log_probs(b.view(1), t.view(1))[0]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        # the raw energy term is minus the logit of the observed token in the same pass
        logit = conditionals.logits(b.view(1), t.view(1))[0, batch["input_ids"][b, t]]
        assert float(output.token_energies[b, t]) == pytest.approx(-float(logit), abs=1e-5)


def test_positions_limit_the_copies(wordlevel, sentences):
    model, tokenizer = wordlevel
    energy = MaskedLMEnergy(model, tokenizer)
    batch = tokenizer(sentences[:1], return_tensors="pt")
    full = energy(batch["input_ids"])
    positions = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
    positions[0, [2, 4]] = True
    before = energy.cost.snapshot()
    partial = energy(batch["input_ids"], positions=positions)
    assert (energy.cost - before).sequences == 2
    torch.testing.assert_close(partial.token_energies[0, [2, 4]], full.token_energies[0, [2, 4]])
    assert float(partial.energy[0]) == pytest.approx(float(full.token_energies[0, [2, 4]].sum()))


def test_structural_tokens_are_never_scored_but_unknown_ones_are(wordlevel):
    model, tokenizer = wordlevel
    batch = tokenizer(["the cat", "a zebra sat here"], padding=True, return_tensors="pt")
    output = MaskedLMEnergy(model, tokenizer)(batch["input_ids"], batch["attention_mask"])
    names = ["[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    structural_ids = torch.tensor(tokenizer.convert_tokens_to_ids(names))
    structural = torch.isin(batch["input_ids"], structural_ids)
    assert not output.scored[structural].any()
    assert (output.token_energies[structural] == 0).all()
    unknown = batch["input_ids"] == tokenizer.unk_token_id
    assert unknown.sum() == 1 and output.scored[unknown].all()
    assert output.scored.sum(1).tolist() == [2, 4]


# Out-of-vocabulary words: one [UNK] each, for both tokenizers ("unhappily" has pieces in the
# word-piece vocabulary but not in the word-level one; "qqzzx" has none in either).
UNKNOWN_TEXTS = ["the zebra sat on the xylophone .", "the unhappily qqzzx sat .", "zebra qqzzx"]


@pytest.mark.parametrize("kind", ["norm", "raw"])
@pytest.mark.parametrize("whole_word", [False, True])
@pytest.mark.parametrize("model_name", ["wordlevel", "wordpiece"])
def test_unknown_words_are_scored_like_any_token(request, kind, whole_word, model_name):
    """Every position but [CLS] and [SEP] gets a term, [UNK] included, equal to the naive loop's;
    a text of nothing but unknown words scores too."""
    model, tokenizer = request.getfixturevalue(model_name)
    energy = MaskedLMEnergy(model, tokenizer, kind=kind, whole_word=whole_word, batch_tokens=64)
    scored = energy.score_texts(UNKNOWN_TEXTS)
    reference = naive_masked_lm_energies(model, tokenizer, UNKNOWN_TEXTS, kind, whole_word)
    for text, item, terms in zip(UNKNOWN_TEXTS, scored, reference, strict=True):
        ids = tokenizer(text)["input_ids"]
        assert item.n_tokens == len(terms) == len(ids) - 2
        assert item.n_unk == ids.count(tokenizer.unk_token_id) == item.tokens.count("[UNK]") > 0
        assert item.token_energies == pytest.approx(terms, abs=1e-4)
        assert item.energy == pytest.approx(sum(terms), abs=1e-4)
    expected_unk = [2, 2, 2] if model_name == "wordlevel" else [2, 1, 2]
    assert [item.n_unk for item in scored] == expected_unk


def test_unknown_word_hand_computed(wordlevel):
    """Logits = b at every position; "the zebra" is [CLS] the [UNK] [SEP], so
    norm = (lse(b) - b[the]) + (lse(b) - b[UNK])."""
    model, tokenizer = wordlevel
    bias = torch.zeros(len(tokenizer))
    the, unk = tokenizer.convert_tokens_to_ids(["the", "[UNK]"])
    bias[the], bias[unk] = 2.0, 0.5
    lse = math.log(len(tokenizer) - 2 + math.exp(2.0) + math.exp(0.5))
    item = MaskedLMEnergy(_bias_only_model(model, bias), tokenizer).score_texts(["the zebra"])[0]
    assert item.tokens == ["the", "[UNK]"] and item.n_unk == 1
    assert item.token_energies == pytest.approx([lse - 2.0, lse - 0.5], abs=1e-5)


def test_whole_word_needs_a_fast_tokenizer(slow_wordlevel, wordlevel, sentences):
    """A slow tokenizer has no word_ids: whole-word masking refuses it instead of silently
    masking one token at a time; plain masking works with it and agrees with the fast one."""
    model, slow = slow_wordlevel
    with pytest.raises(ValueError, match="whole-word masking needs word boundaries"):
        MaskedLMEnergy(model, slow, whole_word=True)
    plain = MaskedLMEnergy(model, slow).score_texts(sentences)
    fast = MaskedLMEnergy(*wordlevel).score_texts(sentences)
    assert [s.energy for s in plain] == pytest.approx([s.energy for s in fast], abs=1e-5)


@pytest.mark.parametrize(
    ("lengths", "budget", "max_padding", "expected"),
    [
        ([3, 3, 3, 3], 6, 0.0, [(0, 2), (2, 4)]),
        ([2, 3, 5], 10, 1.0, [(0, 2), (2, 3)]),  # 2 copies x 3 = 6 fit; 3 x 5 = 15 does not
        ([2, 3, 5], 10, 0.0, [(0, 1), (1, 2), (2, 3)]),  # no padding allowed: lengths split
        ([9, 9, 9, 10], 100, 0.1, [(0, 4)]),  # 3 padded slots of 40 = 7.5%
        ([9, 9, 9, 10], 100, 0.05, [(0, 3), (3, 4)]),
        ([50], 10, 0.0, [(0, 1)]),  # longer than the budget: goes alone
        ([], 10, 0.0, []),
    ],
)
def test_pack_by_budget(lengths, budget, max_padding, expected):
    runs = pack_by_budget(lengths, budget, max_padding)
    assert [(s.start, s.stop) for s in runs] == expected


def test_rejects_bad_settings(wordlevel):
    model, tokenizer = wordlevel
    with pytest.raises(ValueError, match="kind"):
        MaskedLMEnergy(model, tokenizer, kind="nope")
    with pytest.raises(ValueError, match="temperature"):
        MaskedLMEnergy(model, tokenizer, temperature=0)
