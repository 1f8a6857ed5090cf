"""Minimal pairs built from real sentences: a sentence against an equal-length corruption of it.

Two kinds, as in issue 11's PTB experiment (and the LM-scoring literature's "shuffled" and
"substituted" controls):
- `swap`: two adjacent, different words exchanged;
- `replace`: one word replaced by another of similar corpus frequency (the same frequency
  bucket, floor(log_base count)), so that the bad sentence is not told apart by a rare or
  frequent word alone, only by the word not fitting its context.

The good sentence is the real one; nothing checks that the corruption is ungrammatical (a swap
of two nouns in a list, or a replacement by a synonym, can be fine), so accuracy on these pairs
has a ceiling somewhat below 1 for any scorer.

Each (sentence, kind) draws from its own `random.Random` seeded by (seed, kind, the sentence's
text): the pair built for a sentence does not depend on which other sentences are in the input
or where, so a filtered or truncated input gives a subset of the same pairs.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

KINDS = ("swap", "replace")


def word_counts(lines: Iterable[str]) -> Counter:
    """Whitespace-separated word counts over `lines` (the frequencies the buckets are cut from)."""
    counts: Counter = Counter()
    for line in lines:
        counts.update(line.split())
    return counts


def frequency_buckets(counts: Mapping[str, int], base: float = 2.0) -> dict[str, int]:
    """Each word's bucket, floor(log_base count): words whose counts lie within a factor of
    `base` of each other (the same power of `base`) share a bucket. Words counted 0 get none."""
    if base <= 1:
        raise ValueError(f"base must be above 1, not {base}")
    return {
        word: math.floor(math.log(count, base) + 1e-9)  # 1e-9: log(8, 2) = 2.9999999999999996
        for word, count in counts.items()
        if count > 0
    }


def _rng(seed: int, kind: str, words: list[str]) -> random.Random:
    # A str seed is hashed with SHA-512 (random's version 2): the same in every process,
    # unlike hash(), which PYTHONHASHSEED randomises.
    return random.Random(f"{seed}\t{kind}\t{' '.join(words)}")


def swap_adjacent(words: list[str], rng: random.Random) -> tuple[list[str], int] | None:
    """`words` with one pair of adjacent, different words exchanged, and the left position;
    None when every adjacent pair is two equal words (or there are fewer than 2 words)."""
    candidates = [i for i in range(len(words) - 1) if words[i] != words[i + 1]]
    if not candidates:
        return None
    i = rng.choice(candidates)
    out = words.copy()
    out[i], out[i + 1] = out[i + 1], out[i]
    return out, i


def replace_same_bucket(
    words: list[str],
    rng: random.Random,
    buckets: Mapping[str, int],
    members: Mapping[int, list[str]],
    exclude: frozenset[str] = frozenset(),
    length_of: Callable[[str], int] | None = None,
) -> tuple[list[str], int] | None:
    """`words` with one word replaced by another word of its frequency bucket, and the position.

    A position qualifies when its word has a bucket, is not in `exclude`, and its bucket holds
    another word (not excluded; with `length_of`, also of the same length, e.g. the number of
    sub-word tokens, so that the pair stays equal length in model tokens). The position is drawn
    uniformly among those that qualify, then the replacement uniformly among its candidates.
    None when no position qualifies.

    members: bucket -> its words, sorted (see `bucket_members`).
    """
    options: list[tuple[int, list[str]]] = []
    for i, word in enumerate(words):
        if word in exclude or word not in buckets:
            continue
        size = length_of(word) if length_of else None
        candidates = [
            w
            for w in members[buckets[word]]
            if w != word and w not in exclude and (size is None or length_of(w) == size)
        ]
        if candidates:
            options.append((i, candidates))
    if not options:
        return None
    i, candidates = rng.choice(options)
    out = words.copy()
    out[i] = rng.choice(candidates)
    return out, i


def bucket_members(buckets: Mapping[str, int]) -> dict[int, list[str]]:
    """bucket -> its words, sorted (sorted so that draws do not depend on dict order)."""
    members: dict[int, list[str]] = {}
    for word, bucket in buckets.items():
        members.setdefault(bucket, []).append(word)
    return {bucket: sorted(words) for bucket, words in members.items()}


def build_minimal_pairs(
    sentences: list[str],
    counts: Mapping[str, int],
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
    exclude: Iterable[str] = ("<unk>",),
    base: float = 2.0,
    length_of: Callable[[str], int] | None = None,
) -> list[dict]:
    """One pair of each kind per sentence (when that kind is possible), as `eval pairs` reads:
    {"sentence_good", "sentence_bad", "group": kind, "sentence_index": index in `sentences`,
    "position": the (left) word changed}.

    sentences: whitespace-tokenised text; the bad sentence has the same number of words, joined
    by single spaces (the good one is the line stripped and re-joined the same way).
    counts: word frequencies for the buckets (the training text's, see `word_counts`).
    exclude: words never replaced nor used as replacements (PTB's `<unk>` is a class, not a word);
    they may still be swapped.
    length_of: see `replace_same_bucket`.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown pair kinds {sorted(unknown)}; choose from {KINDS}")
    excluded = frozenset(exclude)
    buckets = frequency_buckets(counts, base)
    members = bucket_members(buckets)
    pairs = []
    for line, sentence in enumerate(sentences):
        words = sentence.split()
        for kind in kinds:
            rng = _rng(seed, kind, words)
            if kind == "swap":
                made = swap_adjacent(words, rng)
            else:
                made = replace_same_bucket(words, rng, buckets, members, excluded, length_of)
            if made is None:
                continue
            bad, position = made
            pairs.append(
                {
                    "sentence_good": " ".join(words),
                    "sentence_bad": " ".join(bad),
                    "group": kind,
                    "sentence_index": line,
                    "position": position,
                }
            )
    return pairs
