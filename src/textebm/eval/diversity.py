"""Diversity of a set of generated texts: distinct-n and self-BLEU.

distinct-n (Li et al. 2016): distinct n-grams over all n-grams in the set, so 1.0 when no
n-gram repeats anywhere. Self-BLEU (Zhu et al. 2018, Texygen): each text's sentence BLEU
against all the others as references, averaged; high when the texts resemble each other.
Texts are split on whitespace (word-level corpora such as PTB are already tokenised).
"""

from __future__ import annotations

from collections.abc import Sequence


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of one text, in order (none when it is shorter than n)."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams over `texts` (0.0 when there are no n-grams)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    grams = [gram for text in texts for gram in ngrams(text.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


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
