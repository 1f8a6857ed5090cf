"""Diversity of a set of generated texts: distinct-n, self-BLEU and within-text repetition.

distinct-n comes with two denominators, which reports must name:
- per n-gram (`denominator="ngrams"`, the default): distinct n-grams / all n-grams in the set, so
  1.0 when no n-gram repeats anywhere;
- per token (`denominator="tokens"`, Li et al. 2016's definition): distinct n-grams / all tokens
  in the set. A text of L words has L - n + 1 n-grams, so for n > 1 this is lower, by a factor
  that depends on the texts' lengths (short texts lose more); for n = 1 the two agree.
Self-BLEU (Zhu et al. 2018, Texygen): each text's sentence BLEU
against all the others as references, averaged; high when the texts resemble each other.
Texts are split on whitespace (word-level corpora such as PTB are already tokenised).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

DENOMINATORS = ("ngrams", "tokens")


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of one text, in order (none when it is shorter than n)."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(
    texts: Sequence[str], n: int, denominator: Literal["ngrams", "tokens"] = "ngrams"
) -> float:
    """Distinct n-grams over `texts`, divided by all their n-grams (`denominator="ngrams"`) or by
    all their tokens (`"tokens"`, Li et al. 2016). 0.0 when the denominator is 0."""
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    if denominator not in DENOMINATORS:
        raise ValueError(f"denominator must be one of {DENOMINATORS}, not {denominator!r}")
    words = [text.split() for text in texts]
    grams = [gram for text in words for gram in ngrams(text, n)]
    total = len(grams) if denominator == "ngrams" else sum(len(text) for text in words)
    return len(set(grams)) / total if total else 0.0


def self_bleu(texts: Sequence[str], max_order: int = 4) -> float:
    """Mean sentence BLEU (sacrebleu, 0-100, exponential smoothing) of each text against the rest.

    Needs at least two texts and the `sacrebleu` package (`pip install textebm[eval]`).
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise ImportError("self-BLEU needs sacrebleu: pip install 'textebm[eval]'") from None
    if len(texts) < 2:
        raise ValueError(f"self-BLEU needs at least two texts, not {len(texts)}")
    # Texts come tokenised and lower-cased already: sacrebleu must not re-tokenise them.
    bleu = BLEU(max_ngram_order=max_order, tokenize="none", effective_order=True)
    scores = [
        bleu.sentence_score(text, list(texts[:i]) + list(texts[i + 1 :])).score
        for i, text in enumerate(texts)
    ]
    return sum(scores) / len(scores)


def repetition_rate(texts: Sequence[str], n: int = 4) -> float:
    """Within-text n-gram repetition, pooled over `texts`: the fraction of all n-gram
    occurrences that repeat an n-gram seen earlier in the same text (rep-n; a text that loops
    scores near 1, one with no repeated n-gram 0). Repeats across texts do not count: that is
    distinct-n's job. 0.0 when there are no n-grams."""
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    repeated = total = 0
    for text in texts:
        grams = ngrams(text.split(), n)
        repeated += len(grams) - len(set(grams))
        total += len(grams)
    return repeated / total if total else 0.0
