"""Reference perplexity: stream layout, sliding windows, and a hand-computed case."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from textebm.data.tokenizers import train_tokenizer
from textebm.energies import CausalLMEnergy
from textebm.eval.perplexity import (
    _windows,
    corpus_perplexity,
    sentence_perplexity,
    stream_perplexity,
    token_stream,
)


class Unigram(torch.nn.Module):
    """A 'causal LM' whose next-token distribution ignores the context: p = softmax(weights)."""

    def __init__(self, probabilities: list[float]) -> None:
        super().__init__()
        self.weights = torch.nn.Parameter(torch.tensor(probabilities).log())
        self.config = SimpleNamespace(n_positions=4)

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.weights.expand(*input_ids.shape, -1))


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["a b c", "b c"], kind="wordlevel")


def test_stream_is_bos_line_eos_and_bos_is_not_scored(tokenizer):
    ids, scored = token_stream(tokenizer, ["a b", "", "c"])
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    a, b, c = tokenizer.convert_tokens_to_ids(["a", "b", "c"])
    assert ids.tolist() == [bos, a, b, eos, bos, c, eos]
    assert scored.tolist() == [False, True, True, True, False, True, True]


def test_windows_score_every_token_once_with_enough_context():
    for n, length, stride in [(10, 4, 3), (10, 4, 1), (10, 4, 2), (3, 8, 2), (9, 5, 4)]:
        seen = []
        for begin, end, first in _windows(n, length, stride):
            assert end - begin <= length and begin < first < end
            if first > 1:
                assert end - first <= stride and first - begin >= length - stride
            seen.extend(range(first, end))
        assert seen == list(range(1, n))


def test_hand_computed_unigram_perplexity(tokenizer):
    # Vocabulary: 5 specials then the words; give [SEP] (eos) and the three words known masses.
    vocab = len(tokenizer)
    probabilities = [0.0001] * vocab
    eos = tokenizer.eos_token_id
    a, b, c = tokenizer.convert_tokens_to_ids(["a", "b", "c"])
    for token, p in [(eos, 0.4), (a, 0.1), (b, 0.2), (c, 0.2)]:
        probabilities[token] = p
    total = sum(probabilities)
    model = Unigram(probabilities)
    # "a b" + eos, "c" + eos: scored a, b, eos, c, eos (the bos tokens are not).
    expected_nll = -sum(math.log(p / total) for p in [0.1, 0.2, 0.4, 0.2, 0.4])
    for stride in (1, 2, 3):
        result = corpus_perplexity(model, tokenizer, ["a b", "c"], stride=stride, batch_size=2)
        assert result.tokens == 5
        assert result.nll == pytest.approx(expected_nll, rel=1e-5)
        assert result.perplexity == pytest.approx(math.exp(expected_nll / 5), rel=1e-5)


def test_tiny_gpt2_windows_match_one_full_pass():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=11, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    )
    model.eval()
    ids = torch.randint(0, 11, (12,))
    # One window holding the whole stream is one forward pass: sum of -log p(x_t | x_<t).
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids[None]).logits[0].float(), dim=-1)
    full = -float(log_probs[torch.arange(11), ids[1:]].sum())
    assert stream_perplexity(model, ids, context_length=16).nll == pytest.approx(full, rel=1e-5)
    # Windows of 4 tokens by hand: each scores its tokens from `first` on, given the window.
    blocks = stream_perplexity(model, ids, context_length=4)
    by_hand = 0.0
    for begin, end, first in _windows(12, 4, 3):
        with torch.no_grad():
            lp = torch.log_softmax(model(input_ids=ids[None, begin:end]).logits[0], dim=-1)
        by_hand -= sum(float(lp[t - begin - 1, ids[t]]) for t in range(first, end))
    assert blocks.nll == pytest.approx(by_hand, rel=1e-5) and blocks.tokens == 11
    # More context (a smaller stride) changes the numbers but still scores 11 tokens.
    assert stream_perplexity(model, ids, context_length=4, stride=1).tokens == 11


def test_sentence_perplexity_hand_computed_unigram(tokenizer):
    probabilities = [0.0001] * len(tokenizer)
    eos = tokenizer.eos_token_id
    a, b, c = tokenizer.convert_tokens_to_ids(["a", "b", "c"])
    for token, p in [(eos, 0.4), (a, 0.1), (b, 0.2), (c, 0.2)]:
        probabilities[token] = p
    total = sum(probabilities)
    # Each sentence alone: "a b" scores a, b, eos; "c" scores c, eos.
    expected_nll = -sum(math.log(p / total) for p in [0.1, 0.2, 0.4, 0.2, 0.4])
    result = sentence_perplexity(Unigram(probabilities), tokenizer, ["a b", "c"])
    assert (result.tokens, result.context_length, result.stride) == (5, 4, 0)
    assert result.nll == pytest.approx(expected_nll, rel=1e-5)


def test_sentences_see_no_other_sentence_and_padding_changes_nothing(tokenizer):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=16, n_layer=1, n_head=2)
    )
    texts = ["a b c", "c", "b a"]
    together = sentence_perplexity(model, tokenizer, texts, batch_size=3)
    alone = [sentence_perplexity(model, tokenizer, [text]) for text in texts]
    assert together.tokens == sum(one.tokens for one in alone) == 9
    assert together.nll == pytest.approx(sum(one.nll for one in alone), rel=1e-5)
    # As one stream, later lines see earlier ones: a different (context-dependent) score.
    stream = corpus_perplexity(model, tokenizer, texts, context_length=16, stride=15)
    assert stream.tokens == together.tokens
    assert stream.nll != pytest.approx(together.nll, rel=1e-4)


@pytest.mark.parametrize("gpt2_style", [False, True])
def test_sentence_perplexity_agrees_with_the_causal_lm_energy(clm, sentences, gpt2_style):
    """One framing for both: bos (eos where bos is eos, as in GPT-2) text eos, eos scored."""
    model, tokenizer = clm
    if gpt2_style:
        tokenizer = copy.deepcopy(tokenizer)
        tokenizer.bos_token = tokenizer.eos_token
    scored = CausalLMEnergy(model, tokenizer).score_texts(sentences)
    result = sentence_perplexity(model, tokenizer, sentences)
    assert result.tokens == sum(item.n_tokens for item in scored)
    assert result.nll == pytest.approx(sum(item.energy for item in scored), rel=1e-5)
