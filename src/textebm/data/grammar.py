"""An embedded probabilistic language with exact string probabilities: the demo's ground truth.

The language is a probabilistic context-free grammar (rules in `grammar_rules.py`) conditioned on
length: a sentence is a derivation's yield, words joined by single spaces, the final "." counted
as a word, and only sentences of at most `max_words` words are kept. Its distribution is

    p(s) = P_G(s) / Z,   P_G(s) = sum over derivations d of s of prod_{rules r in d} p(r),
    Z = P_G(|s| <= max_words) = sum_{|s| <= max_words} P_G(s),

and `generate` draws from exactly this by rejection sampling. Every string outside it gets -inf.

Exactness. Because no rule derives the empty string, a derivation's length only grows, so the
derivations of at most `max_words` words are finitely many. We sum them, once, per *template*
(sequence of word categories, e.g. DET_SG N_SG VI_SG END): P(t) = sum of P_G over derivations whose
categories read t, which is where ambiguous derivations (prepositional attachment) are added up.
Then for a sentence w_1..w_n

    p(s) = sum over templates t with w_i in c_i of P(t) prod_i p(w_i | t_i)  /  Z,

the outer sum running over the few ways to tag each word ("the" is both DET_SG and DET_PL).
Z is the sum of the template table, so the probabilities of all strings sum to 1 up to rounding.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence

from textebm.data.grammar_rules import LEXICON, RULES, TOY_LEXICON

Template = tuple[str, ...]


class Grammar:
    """A PCFG over word categories plus a lexicon p(word | category), conditioned on length.

    `rules` maps a nonterminal to `(right-hand side, probability)` pairs, the right-hand side a
    space-separated string of nonterminals and categories; probabilities per nonterminal must sum
    to 1. `lexicon` maps a category to word weights (normalised here). No empty right-hand sides.
    """

    def __init__(
        self,
        rules: Mapping[str, Sequence[tuple[str, float]]] = RULES,
        lexicon: Mapping[str, Mapping[str, float]] = LEXICON,
        start: str = "S",
        max_words: int = 12,
    ) -> None:
        self.start, self.max_words = start, max_words
        self._rules = {a: [(tuple(rhs.split()), p) for rhs, p in alts] for a, alts in rules.items()}
        self._words: dict[str, tuple[list[str], list[float]]] = {}
        for cat, weights in lexicon.items():
            kept = {w: x for w, x in weights.items() if x > 0}  # a zero weight is no word at all
            total = sum(kept.values())
            self._words[cat] = (list(kept), [x / total for x in kept.values()])
        self._check()
        self._min_len = self._minimum_lengths()
        self._memo: dict[tuple[str, int], dict[Template, float]] = {}
        self._in_progress: set[tuple[str, int]] = set()
        table = self._expand(start, max_words)
        if not table:
            raise ValueError(f"no sentence of at most {max_words} words; raise max_words")
        # log Z = log P_G(|s| <= max_words), public so tests can check hand-computed products.
        self.log_normaliser = math.log(math.fsum(table.values()))
        self._log_template = {t: math.log(p) - self.log_normaliser for t, p in table.items()}
        del self._memo  # only the start symbol's table is needed from here on
        # word -> ((category, log p(word | category)), ...), the ways to tag a word
        tags: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for cat, (words, probs) in self._words.items():
            for word, p in zip(words, probs, strict=True):
                tags[word].append((cat, math.log(p)))
        self._tags = {w: tuple(t) for w, t in tags.items()}
        # Cumulative tables for sampling with rng.random() alone (stable across Python versions).
        self._rule_cum = {
            a: list(itertools.accumulate(p for _, p in alts)) for a, alts in self._rules.items()
        }
        self._word_cum = {c: list(itertools.accumulate(ps)) for c, (_, ps) in self._words.items()}

    def _check(self) -> None:
        if self.start not in self._rules:
            raise ValueError(f"start symbol {self.start} has no rules")
        for a, alts in self._rules.items():
            if a in self._words:
                raise ValueError(f"{a} is both a nonterminal and a word category; rename one")
            if not math.isclose(sum(p for _, p in alts), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"rule probabilities of {a} sum to {sum(p for _, p in alts)}, not 1"
                )
            for rhs, _ in alts:
                for s in rhs or ("<empty>",):
                    if s not in self._rules and s not in self._words:
                        raise ValueError(f"rule {a} -> {' '.join(rhs)} uses unknown symbol {s}")

    def _minimum_lengths(self) -> dict[str, int]:
        # Bellman-Ford style fixed point: the fewest words each symbol can derive.
        best = dict.fromkeys(self._words, 1) | dict.fromkeys(self._rules, math.inf)
        changed = True
        while changed:
            changed = False
            for a, alts in self._rules.items():
                m = min(sum(best[s] for s in rhs) for rhs, _ in alts)
                if m < best[a]:
                    best[a], changed = m, True
        if dead := [a for a, m in best.items() if m == math.inf]:
            raise ValueError(f"nonterminals {dead} derive no finite sentence")
        return best

    def _expand(self, symbol: str, budget: int) -> dict[Template, float]:
        """Templates of at most `budget` words that `symbol` derives, with total probabilities."""
        if symbol in self._words:
            return {(symbol,): 1.0} if budget >= 1 else {}
        key = (symbol, budget)
        if key in self._memo:
            return self._memo[key]
        if key in self._in_progress:  # same symbol, same budget: only a unary cycle gets here
            raise ValueError(f"unary rule cycle through {symbol}; the inside sums would not end")
        self._in_progress.add(key)
        out: dict[Template, float] = defaultdict(float)
        if budget >= self._min_len[symbol]:
            for rhs, p in self._rules[symbol]:
                for t, q in self._expand_sequence(rhs, budget).items():
                    out[t] += p * q
        self._in_progress.discard(key)
        self._memo[key] = out = dict(out)
        return out

    def _expand_sequence(self, rhs: tuple[str, ...], budget: int) -> dict[Template, float]:
        head, rest = rhs[0], rhs[1:]
        if not rest:
            return self._expand(head, budget)
        # Leave the head only what the rest cannot do without: prunes hopeless splits early.
        rest_min = sum(self._min_len[s] for s in rest)
        out: dict[Template, float] = defaultdict(float)
        for t, p in self._expand(head, budget - rest_min).items():
            for u, q in self._expand_sequence(rest, budget - len(t)).items():
                out[t + u] += p * q
        return out

    # ----- scoring -----

    def log_prob(self, sentence: str) -> float:
        """Natural log of p(sentence), summed over all derivations; -inf outside the language."""
        words = sentence.split(" ")
        try:
            options = [self._tags[w] for w in words]
        except KeyError:
            return -math.inf
        terms = []
        for tagging in itertools.product(*options):
            lt = self._log_template.get(tuple(c for c, _ in tagging))
            if lt is not None:
                terms.append(lt + math.fsum(lw for _, lw in tagging))
        return _logsumexp(terms) if terms else -math.inf

    def is_grammatical(self, sentence: str) -> bool:
        """Whether `sentence` is in the language (has positive probability)."""
        return self.log_prob(sentence) > -math.inf

    def vocabulary(self) -> list[str]:
        """Every word the grammar can emit (the final "." included), sorted."""
        return sorted(self._tags)

    # ----- sampling -----

    def generate(self, n: int, seed: int) -> list[str]:
        """`n` sentences drawn independently from p, reproducibly from `seed`."""
        rng = random.Random(seed)
        out: list[str] = []
        while len(out) < n:
            words = self._sample(rng)
            if words is not None:
                out.append(" ".join(words))
        return out

    def _sample(self, rng: random.Random) -> list[str] | None:
        """One top-down derivation's words, or None as soon as it must exceed max_words.

        Stopping early is still exact rejection sampling: once the words emitted plus the least
        the pending symbols can add exceed the cap, every completion would be rejected anyway.
        """
        stack, words, pending = [self.start], [], self._min_len[self.start]
        while stack:
            symbol = stack.pop()
            pending -= self._min_len[symbol]
            if symbol in self._words:
                choices, cum = self._words[symbol][0], self._word_cum[symbol]
                words.append(choices[min(bisect.bisect(cum, rng.random()), len(cum) - 1)])
            else:
                cum = self._rule_cum[symbol]
                rhs = self._rules[symbol][min(bisect.bisect(cum, rng.random()), len(cum) - 1)][0]
                stack.extend(reversed(rhs))
                pending += sum(self._min_len[s] for s in rhs)
            if len(words) + pending > self.max_words:
                return None
        return words

    def corrupt(self, sentence: str, rng: random.Random, tries: int = 100) -> str:
        """A same-length corruption of `sentence` that the grammar rejects.

        Two different words swapped or one word replaced by another vocabulary word, each with
        probability 1/2; a final "." stays in place and is never drawn as a replacement, so a
        corruption is never given away by punctuation alone. After `tries` random edits it
        searches all edits in random order; raises ValueError if none is ungrammatical.
        """
        words = sentence.split(" ")
        n = len(words) - (words[-1] == ".")
        vocab = [w for w in self.vocabulary() if w != "."]
        if n < 1:
            raise ValueError(f"nothing to corrupt in {sentence!r}")

        def edited(i: int, j: int | None, word: str | None) -> list[str]:
            out = words.copy()
            if j is not None:
                out[i], out[j] = out[j], out[i]
            else:
                out[i] = word
            return out

        def accept(candidate: list[str]) -> bool:
            return candidate != words and not self.is_grammatical(" ".join(candidate))

        for _ in range(tries):
            if n >= 2 and rng.random() < 0.5:
                i, j = rng.sample(range(n), 2)
                candidate = edited(i, j, None)
            else:
                candidate = edited(rng.randrange(n), None, rng.choice(vocab))
            if accept(candidate):
                return " ".join(candidate)
        edits = [(i, j, None) for i, j in itertools.combinations(range(n), 2)]
        edits += [(i, None, w) for i in range(n) for w in vocab]
        rng.shuffle(edits)
        for edit in edits:
            if accept(candidate := edited(*edit)):
                return " ".join(candidate)
        raise ValueError(f"every swap and replacement of {sentence!r} is grammatical")

    # ----- exact summaries -----

    def enumerate_sentences(
        self, max_words: int | None = None, limit: int = 1_000_000
    ) -> list[tuple[str, float]]:
        """Every sentence of at most `max_words` words and its log-probability, most probable first.

        With `max_words=None` this is the whole language and the probabilities sum to 1. Raises
        ValueError if that would list more than `limit` (template, words) pairs.
        """
        cap = self.max_words if max_words is None else max_words
        templates = [(t, lp) for t, lp in self._log_template.items() if len(t) <= cap]
        size = sum(math.prod(len(self._words[c][0]) for c in t) for t, _ in templates)
        if size > limit:
            raise ValueError(
                f"{size} sentences of at most {cap} words exceed limit={limit}; "
                "lower max_words or use toy_grammar()"
            )
        terms: dict[str, list[float]] = defaultdict(list)
        for t, lp in templates:
            choices = [zip(*self._words[c], strict=True) for c in t]
            for picked in itertools.product(*choices):
                sentence = " ".join(w for w, _ in picked)
                terms[sentence].append(lp + math.fsum(math.log(p) for _, p in picked))
        return sorted(((s, _logsumexp(x)) for s, x in terms.items()), key=lambda sp: -sp[1])

    def length_distribution(self) -> dict[int, float]:
        """p(|s| = n) for every possible length n (in words, the final "." counted)."""
        out: dict[int, float] = defaultdict(float)
        for t, lp in self._log_template.items():
            out[len(t)] += math.exp(lp)
        return dict(sorted(out.items()))

    def mean_length(self) -> float:
        """E|s|, exactly."""
        return math.fsum(n * p for n, p in self.length_distribution().items())

    def entropy(self) -> float:
        """H = -sum_s p(s) log p(s) in nats, exactly.

        When every sentence has one tagging (its template is fixed by its words; here because
        a determiner's number is fixed by the noun after it), the chain rule gives
        H = H(T) + sum_t p(t) sum_i H(W | C = t_i). Raises ValueError when a sentence has two.
        """
        overlap = {
            c: [d for d in self._words if set(self._words[c][0]) & set(self._words[d][0])]
            for c in self._words
        }
        for t in self._log_template:
            for other in itertools.product(*(overlap[c] for c in t)):
                if other != t and other in self._log_template:
                    raise ValueError("some sentence has two taggings; sum enumerate_sentences()")
        h_word = {c: -math.fsum(p * math.log(p) for p in ps) for c, (_, ps) in self._words.items()}
        return math.fsum(
            math.exp(lp) * (-lp + math.fsum(h_word[c] for c in t))
            for t, lp in self._log_template.items()
        )


def _logsumexp(xs: Sequence[float]) -> float:
    top = max(xs)
    if len(xs) == 1 or top == -math.inf:
        return top
    return top + math.log(math.fsum(math.exp(x - top) for x in xs))


@functools.cache
def default_grammar() -> Grammar:
    """The embedded language: 110 words, sentences of 4 to 12 words (built once, ~10 ms)."""
    return Grammar()


@functools.cache
def toy_grammar(max_words: int = 9) -> Grammar:
    """The same rules over an 18-word lexicon: 2,680 sentences at the default `max_words`."""
    return Grammar(lexicon=TOY_LEXICON, max_words=max_words)


def generate(n: int, seed: int) -> list[str]:
    """`n` sentences of the embedded language, reproducibly from `seed`."""
    return default_grammar().generate(n, seed)


def log_prob(sentence: str) -> float:
    """Exact natural-log probability of `sentence` in the embedded language (-inf outside it)."""
    return default_grammar().log_prob(sentence)


def is_grammatical(sentence: str) -> bool:
    """Whether `sentence` belongs to the embedded language."""
    return default_grammar().is_grammatical(sentence)


def corrupt(sentence: str, rng: random.Random) -> str:
    """A same-length ungrammatical corruption of `sentence` (see `Grammar.corrupt`)."""
    return default_grammar().corrupt(sentence, rng)


def vocabulary() -> list[str]:
    """The embedded language's words, sorted."""
    return default_grammar().vocabulary()


def enumerate_sentences(max_words: int | None = None) -> list[tuple[str, float]]:
    """The embedded language's sentences of at most `max_words` words, with log-probabilities."""
    return default_grammar().enumerate_sentences(max_words)
