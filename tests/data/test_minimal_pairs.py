"""Minimal pairs from real sentences: buckets by hand, every pair checked against a naive
enumeration of the corruptions allowed, seeding and the subset property."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from textebm.data.minimal_pairs import (
    bucket_members,
    build_minimal_pairs,
    frequency_buckets,
    replace_same_bucket,
    swap_adjacent,
    word_counts,
)

COUNTS = {"the": 40, "a": 33, "cat": 5, "dog": 6, "sat": 7, "ran": 4, "mat": 2, "rug": 3,
          "on": 16, "<unk>": 50, "zebra": 1}  # fmt: skip
SENTENCES = [
    "the cat sat on the mat",
    "a dog ran on a rug",
    "the the the",
    "zebra",
    "the <unk> sat",
    "a cat ran",
]


def test_frequency_buckets_by_hand():
    # floor(log2 c): 1->0, 2,3->1, 4..7->2, 8->3; base 10: 9->0, 10..99->1, 100->2.
    assert frequency_buckets({"a": 1, "b": 2, "c": 3, "d": 4, "e": 7, "f": 8, "g": 0}) == {
        "a": 0, "b": 1, "c": 1, "d": 2, "e": 2, "f": 3,
    }  # fmt: skip
    assert frequency_buckets({"x": 9, "y": 10, "z": 99, "w": 100}, base=10) == {
        "x": 0, "y": 1, "z": 1, "w": 2,
    }  # fmt: skip
    with pytest.raises(ValueError):
        frequency_buckets({"a": 1}, base=1)


def test_word_counts():
    assert word_counts([" a b a ", "b  c"]) == Counter({"a": 2, "b": 2, "c": 1})


def test_swap_adjacent_only_different_neighbours():
    rng = random.Random(0)
    assert swap_adjacent(["x", "x", "y"], rng) == (["x", "y", "x"], 1)
    assert swap_adjacent(["x", "x", "x"], rng) is None
    assert swap_adjacent(["x"], rng) is None


def test_replace_same_bucket_by_hand():
    # buckets: cat 2, dog 2, sat 2, ran 2, mat 1, rug 1, on 4, the 5, a 5, <unk> 5, zebra 0
    buckets = frequency_buckets(COUNTS)
    members = bucket_members(buckets)
    assert members[1] == ["mat", "rug"] and members[5] == ["<unk>", "a", "the"]
    rng = random.Random(0)
    # "zebra" is alone in its bucket, "on" too: nothing to replace.
    assert replace_same_bucket(["zebra", "on"], rng, buckets, members) is None
    # "mat" can only become "rug".
    assert replace_same_bucket(["zebra", "mat"], rng, buckets, members) == (["zebra", "rug"], 1)
    # "the" may become "a" but never the excluded "<unk>"; "<unk>" itself is never replaced.
    for seed in range(20):
        out = replace_same_bucket(
            ["<unk>", "the"], random.Random(seed), buckets, members, frozenset({"<unk>"})
        )
        assert out == (["<unk>", "a"], 1)
    # same length only: "the" (3 letters) has no 3-letter bucket mate, "cat" has "dog" "sat" "ran".
    seen = set()
    for seed in range(50):
        out, i = replace_same_bucket(
            ["the", "cat"], random.Random(seed), buckets, members, length_of=len
        )
        assert i == 1
        seen.add(out[1])
    assert seen == {"dog", "sat", "ran"}


def naive_corruptions(words: list[str], kind: str, counts: dict, exclude: set) -> set[str]:
    """Every allowed corruption, enumerated directly from the definition."""
    out = set()
    if kind == "swap":
        for i in range(len(words) - 1):
            if words[i] != words[i + 1]:
                out.add(" ".join([*words[:i], words[i + 1], words[i], *words[i + 2 :]]))
        return out

    def bucket(count: int) -> int:  # the largest b with 2**b <= count, by doubling
        b = 0
        while 2 ** (b + 1) <= count:
            b += 1
        return b

    for i, word in enumerate(words):
        if word in exclude or counts.get(word, 0) == 0:
            continue
        for other, c in counts.items():
            same = c > 0 and bucket(c) == bucket(counts[word])
            if other != word and other not in exclude and same:
                out.add(" ".join([*words[:i], other, *words[i + 1 :]]))
    return out


def test_pairs_match_naive_enumeration_and_cover_it():
    seen: dict[tuple[str, str], set[str]] = {}
    for seed in range(200):
        for pair in build_minimal_pairs(SENTENCES, COUNTS, seed=seed):
            good, bad, kind = pair["sentence_good"], pair["sentence_bad"], pair["group"]
            assert good == " ".join(SENTENCES[pair["sentence_index"]].split())
            assert len(bad.split()) == len(good.split())
            allowed = naive_corruptions(good.split(), kind, COUNTS, {"<unk>"})
            assert bad in allowed
            seen.setdefault((good, kind), set()).add(bad)
    # every sentence that has a corruption of a kind gets one, and over seeds all are drawn
    for sentence in SENTENCES:
        for kind in ("swap", "replace"):
            allowed = naive_corruptions(sentence.split(), kind, COUNTS, {"<unk>"})
            assert seen.get((sentence, kind), set()) == allowed


def test_pairs_seeded_and_independent_of_other_lines():
    first = build_minimal_pairs(SENTENCES, COUNTS, seed=3)
    assert first == build_minimal_pairs(SENTENCES, COUNTS, seed=3)
    assert first != build_minimal_pairs(SENTENCES, COUNTS, seed=4)
    # a filtered, reordered input gives the same pair for each sentence it keeps
    subset = [SENTENCES[5], SENTENCES[0]]
    strip = lambda pairs: {(p["sentence_good"], p["group"], p["sentence_bad"]) for p in pairs}  # noqa: E731
    kept = {(p["sentence_good"], p["group"], p["sentence_bad"]) for p in first
            if p["sentence_good"] in subset}  # fmt: skip
    assert strip(build_minimal_pairs(subset, COUNTS, seed=3)) == kept
    # "the the the" cannot be swapped; "zebra" has neither kind
    groups = {(p["sentence_index"], p["group"]) for p in first}
    assert (2, "swap") not in groups and (3, "swap") not in groups and (3, "replace") not in groups
    with pytest.raises(ValueError):
        build_minimal_pairs(SENTENCES, COUNTS, kinds=("shuffle",))
