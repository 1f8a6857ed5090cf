"""distinct-n and self-BLEU against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from textebm.eval.diversity import distinct_n, ngrams, repetition_rate, self_bleu


def test_ngrams_in_order():
    assert ngrams("a b c".split(), 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []


def test_distinct_n_hand_computed():
    texts = ["a b a b", "a b c"]
    # unigrams: a b a b a b c -> 3 distinct of 7; bigrams: ab ba ab ab bc -> 3 distinct of 5.
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert distinct_n(["a"], 2) == 0.0
    with pytest.raises(ValueError):
        distinct_n(texts, 0)


def test_distinct_n_per_token_hand_computed():
    """Li et al. (2016) divide by tokens: 7 tokens in "a b a b" + "a b c"."""
    texts = ["a b a b", "a b c"]
    assert distinct_n(texts, 1, denominator="tokens") == pytest.approx(3 / 7)  # n = 1: same
    assert distinct_n(texts, 2, denominator="tokens") == pytest.approx(3 / 7)  # ab ba bc
    assert distinct_n(texts, 3, denominator="tokens") == pytest.approx(3 / 7)  # aba bab abc
    assert distinct_n(texts, 3, denominator="ngrams") == pytest.approx(3 / 3)
    # Repeats: "x y x y x" has bigrams xy yx xy yx (2 distinct), 5 tokens, 4 bigrams.
    assert distinct_n(["x y x y x"], 2, denominator="tokens") == pytest.approx(2 / 5)
    assert distinct_n(["x y x y x"], 2, denominator="ngrams") == pytest.approx(2 / 4)
    # One word: no bigram, but a token; nothing at all: 0.0 under both.
    assert distinct_n(["a"], 2, denominator="tokens") == 0.0
    assert distinct_n([], 1, denominator="tokens") == distinct_n([], 1) == 0.0
    with pytest.raises(ValueError, match="denominator"):
        distinct_n(texts, 2, denominator="words")  # type: ignore[arg-type]


def test_self_bleu_identical_texts_score_100_and_disjoint_ones_near_0():
    same = ["the cat sat on the mat"] * 3
    assert self_bleu(same) == pytest.approx(100.0)
    disjoint = ["a b c d e", "f g h i j", "k l m n o"]
    assert self_bleu(disjoint) < 1.0


def test_self_bleu_hand_computed_pair():
    # "a b c d" vs reference "a b c e": precisions 3/4, 2/3, 1/2, and 0/1 smoothed by sacrebleu's
    # 'exp' method to 1/(2*1); equal lengths, so no brevity penalty.
    precisions = [3 / 4, 2 / 3, 1 / 2, 1 / 2]
    expected = 100 * math.exp(sum(math.log(p) for p in precisions) / 4)
    assert self_bleu(["a b c d", "a b c e"]) == pytest.approx(expected, rel=1e-6)


def test_self_bleu_needs_two_texts():
    with pytest.raises(ValueError):
        self_bleu(["alone"])


def test_repetition_rate_hand_computed():
    # "a b a b a b": 2-grams ab ba ab ba ab -> 3 repeat an earlier one of 5; "c d": cd, none.
    assert repetition_rate(["a b a b a b", "c d"], n=2) == pytest.approx(3 / 6)
    # The same 4-gram in two texts is no repeat: only within a text counts.
    assert repetition_rate(["a b c d", "a b c d"]) == 0.0
    assert repetition_rate(["x x x x x x"], n=4) == pytest.approx(2 / 3)  # 3 4-grams, 2 repeats
    assert repetition_rate(["short"], n=4) == 0.0  # no 4-grams at all
    with pytest.raises(ValueError, match="n must be"):
        repetition_rate(["a"], n=0)
