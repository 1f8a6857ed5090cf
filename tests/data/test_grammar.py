"""The embedded language: exact probabilities, sampling, agreement, corruptions."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest

from textebm.data import grammar
from textebm.data.grammar import Grammar, default_grammar, toy_grammar
from textebm.data.grammar_rules import RULES, TOY_LEXICON


def derivations(form: tuple[str, ...], budget: int) -> Iterator[tuple[tuple[str, ...], float]]:
    """Every leftmost derivation of `form` into at most `budget` words, straight from the rule
    tables: an independent check on the template sums inside `Grammar`."""
    if len(form) > budget:  # every symbol yields at least one word
        return
    if not form:
        yield (), 1.0
        return
    head, rest = form[0], form[1:]
    if head in TOY_LEXICON:
        total = sum(TOY_LEXICON[head].values())
        for word, weight in TOY_LEXICON[head].items():
            for words, p in derivations(rest, budget - 1):
                yield (word, *words), weight / total * p
    else:
        for rhs, p in RULES[head]:
            for words, q in derivations((*rhs.split(), *rest), budget):
                yield words, p * q


def test_probabilities_sum_to_one_and_match_all_derivations():
    g = toy_grammar()
    listed = dict(g.enumerate_sentences())
    assert 1000 < len(listed) < 10_000
    assert math.isclose(math.fsum(math.exp(lp) for lp in listed.values()), 1.0, abs_tol=1e-9)

    per_string: dict[str, list[float]] = defaultdict(list)
    for words, p in derivations(("S",), g.max_words):
        per_string[" ".join(words)].append(p)
    z = math.fsum(math.fsum(ps) for ps in per_string.values())
    assert math.isclose(math.log(z), g.log_normaliser, rel_tol=1e-12)
    assert set(per_string) == set(listed)
    # Attachment ambiguity really occurs, so the derivation sum is exercised.
    assert max(len(ps) for ps in per_string.values()) >= 2
    for sentence, ps in per_string.items():
        exact = math.log(math.fsum(ps) / z)
        assert math.isclose(g.log_prob(sentence), exact, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(listed[sentence], exact, rel_tol=1e-12, abs_tol=1e-12)


def test_hand_computed_probabilities():
    """Two sentences by hand. "the dog runs ." has one derivation:
        S -> NP_SG VP_SG END (0.5), NP_SG -> DET_SG NOM_SG (0.7), the | DET_SG (0.5),
        NOM_SG -> N_SG (0.75), dog (1/16), VP_SG -> VI_SG (0.4), runs (1/8), . (1)
        p = 0.5 * 0.7 * 0.5 * 0.75 / 16 * 0.4 / 8 / Z = 0.00041015625 / Z.
    "the dog sees the cat near the tree ." has two, the PP on the verb or on "the cat". Shared:
        c = 0.5 * (0.7 * 0.5 * 0.75 / 16) * (1/8) * 0.5 * (0.5 * 0.75 / 16) * 0.5 * (1/6) * 0.5 / 8
        (S, subject NP, sees, NP -> NP_SG, object's the+NOM+cat, PP -> P DET_SG PLACE_SG, near,
        the, tree); the verb attachment adds VP -> VT NP PP (0.1) * NP_SG -> DET NOM (0.7), the
        noun attachment VP -> VT NP (0.3) * NP_SG -> DET NOM PP (0.1): p = c * (0.07 + 0.03) / Z.
    """
    g = default_grammar()
    log_z = g.log_normaliser
    assert -0.5 < log_z < 0  # the cap at 12 words drops some, not most, of the mass
    p = 0.5 * 0.7 * 0.5 * 0.75 / 16 * 0.4 / 8
    assert math.isclose(g.log_prob("the dog runs ."), math.log(p) - log_z, rel_tol=1e-12)
    c = 0.5 * (0.7 * 0.5 * 0.75 / 16) * (1 / 8) * 0.5 * (0.5 * 0.75 / 16) * 0.5 * (1 / 6)
    c *= 0.5 / 8
    ambiguous = "the dog sees the cat near the tree ."
    assert math.isclose(g.log_prob(ambiguous), math.log(c * 0.1) - log_z, rel_tol=1e-12)


def test_generate_is_reproducible_by_seed():
    assert grammar.generate(50, seed=7) == grammar.generate(50, seed=7)
    assert grammar.generate(50, seed=7) != grammar.generate(50, seed=8)
    assert default_grammar().generate(20, seed=7) == grammar.generate(20, seed=7)


def test_generated_sentences_are_grammatical_and_well_formed():
    vocab = set(grammar.vocabulary())
    assert 50 <= len(vocab) <= 200
    for sentence in grammar.generate(2000, seed=0):
        words = sentence.split(" ")
        assert 3 <= len(words) <= 12
        assert words[-1] == "." and set(words) <= vocab and sentence == sentence.lower()
        assert grammar.is_grammatical(sentence)
        assert math.isfinite(grammar.log_prob(sentence))


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("the dogs run .", "the dogs runs ."),
        ("a dog runs .", "a dogs runs ."),
        ("these dogs run .", "these dog runs ."),
        # long range: the verb agrees with the head noun, not the nearer one in the clause
        ("the dog that the cats see runs .", "the dog that the cats see run ."),
        ("the dogs that the cat sees run .", "the dogs that the cat sees runs ."),
        ("the dog that sees the cats runs .", "the dog that see the cats runs ."),
        ("the old dog runs near the tree .", "the old dog runs near the trees tree ."),
    ],
)
def test_agreement_violations_are_ungrammatical(good, bad):
    assert grammar.is_grammatical(good)
    assert not grammar.is_grammatical(bad)
    assert grammar.log_prob(bad) == -math.inf


@pytest.mark.parametrize(
    "outside", ["", "the dog runs", "the  dog runs .", "The dog runs .", "the dog runs . ", "."]
)
def test_strings_outside_the_language_get_minus_infinity(outside):
    assert grammar.log_prob(outside) == -math.inf


def test_longer_than_the_cap_is_outside():
    long = "the old old old old old old old old dog runs ."  # 12 words: inside
    assert grammar.is_grammatical(long)
    assert not grammar.is_grammatical("the old " + long[4:])  # 13 words


def test_corrupt_keeps_length_and_breaks_grammar():
    rng = random.Random(0)
    for sentence in grammar.generate(300, seed=1):
        bad = grammar.corrupt(sentence, rng)
        assert len(bad.split(" ")) == len(sentence.split(" "))
        assert bad.endswith(" .") and bad != sentence
        assert not grammar.is_grammatical(bad)
    rng_a, rng_b = random.Random(3), random.Random(3)
    sentence = "the dog that the cats see runs ."
    assert grammar.corrupt(sentence, rng_a) == grammar.corrupt(sentence, rng_b)


def test_corrupt_gives_up_cleanly_when_every_edit_is_grammatical():
    g = Grammar({"S": [("X END", 1.0)]}, {"X": {"x": 1.0, "y": 1.0}, "END": {".": 1.0}})
    with pytest.raises(ValueError, match="every swap and replacement"):
        g.corrupt("x .", random.Random(0))


def test_sample_frequencies_match_exact_probabilities():
    g = toy_grammar()
    exact = {s: math.exp(lp) for s, lp in g.enumerate_sentences()}
    n = 20_000
    counts = Counter(g.generate(n, seed=0))
    assert set(counts) <= set(exact)
    tv = 0.5 * sum(abs(counts[s] / n - p) for s, p in exact.items())
    # E|count/n - p| <= sqrt(p (1 - p) / n), so this bounds the expected TV distance.
    assert tv < 0.5 * sum(math.sqrt(p * (1 - p) / n) for p in exact.values())
    # Chi-square over the sentences expected at least 20 times, the rest lumped into one bin.
    big = [s for s, p in exact.items() if n * p >= 20]
    rest = 1 - sum(exact[s] for s in big)
    chi2 = sum((counts[s] - n * exact[s]) ** 2 / (n * exact[s]) for s in big)
    chi2 += (n - sum(counts[s] for s in big) - n * rest) ** 2 / (n * rest)
    dof = len(big)
    assert chi2 < dof + 5 * math.sqrt(2 * dof)


def test_length_distribution_matches_samples():
    g = default_grammar()
    lengths = g.length_distribution()
    assert min(lengths) >= 3 and max(lengths) == 12
    assert math.isclose(sum(lengths.values()), 1.0, abs_tol=1e-12)
    n = 5000
    counts = Counter(len(s.split(" ")) for s in g.generate(n, seed=2))
    assert 0.5 * sum(abs(counts[k] / n - p) for k, p in lengths.items()) < 0.03


def test_entropy_and_mean_length_are_exact():
    g = toy_grammar()
    listed = g.enumerate_sentences()
    entropy = -math.fsum(math.exp(lp) * lp for _, lp in listed)
    mean = math.fsum(math.exp(lp) * len(s.split(" ")) for s, lp in listed)
    assert math.isclose(g.entropy(), entropy, rel_tol=1e-10)
    assert math.isclose(g.mean_length(), mean, rel_tol=1e-10)
    # On the full language: the entropy is the mean surprisal of samples, within 5 std errors.
    full = default_grammar()
    surprisal = [-full.log_prob(s) for s in full.generate(4000, seed=3)]
    mean_s = sum(surprisal) / len(surprisal)
    std = math.sqrt(sum((x - mean_s) ** 2 for x in surprisal) / len(surprisal))
    assert abs(full.entropy() - mean_s) < 5 * std / math.sqrt(len(surprisal))


def test_normaliser_grows_with_the_cap():
    zs = [toy_grammar(m).log_normaliser for m in (6, 9, 12)]
    assert zs[0] < zs[1] < zs[2] < 0


def test_enumerate_refuses_what_it_cannot_list():
    with pytest.raises(ValueError, match="lower max_words"):
        grammar.enumerate_sentences()
    short = grammar.enumerate_sentences(max_words=4)  # DET N VI END: 2 * 4 * 16 * 8 of them
    assert len(short) == 2 * 4 * 16 * 8
    assert [lp for _, lp in short] == sorted((lp for _, lp in short), reverse=True)
    assert all(grammar.log_prob(s) == lp for s, lp in short)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"S": [("X", 0.5)]}, "sum to 0.5"),
        ({"S": [("X Y", 1.0)]}, "unknown symbol Y"),
        ({"S": [("A", 1.0)], "A": [("S", 0.5), ("X", 0.5)]}, "unary rule cycle"),
        ({"T": [("X", 1.0)]}, "start symbol S"),
    ],
)
def test_bad_grammars_are_refused(rules, message):
    with pytest.raises(ValueError, match=message):
        Grammar(rules, {"X": {"x": 1.0}})


def test_log_prob_is_fast():
    sentences = grammar.generate(1000, seed=4)
    start = time.perf_counter()
    for s in sentences:
        grammar.log_prob(s)
    assert time.perf_counter() - start < 0.5
