"""The controlled task of SequenceMatch (Cundy & Ermon 2024): addition and subtraction in a base.

Like the math dataset's add-or-sub-in-base, a problem is `a + b` or `a - b` with a and b below
base ** max_digits, written in `base` digits, and its answer may be negative. Every symbol is
a word of its own ("1 2 + 4 =" and "2 1" for 7 + 4 = 11 in base 5), so a word-level tokenizer
(`textebm train tokenizer --kind wordlevel`) gives one token per digit and sign. Files hold one
problem per line, `QUESTION<TAB>ANSWER`: the SequenceMatch recipe reads the question as the
prompt and the answer as the continuation to imitate.

`make_problems` draws distinct problems from a seed; `split_problems` cuts them into a training
and a test set that share no question. The model's accuracy on them: `eval.exact_match`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textebm.data.files import atomic_write, read_lines
from textebm.errors import UsageError

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Problem:
    """question: e.g. "1 2 + 4 ="; answer: e.g. "2 1" (symbols separated by spaces)."""

    question: str
    answer: str


def in_base(number: int, base: int) -> str:
    """`number` in `base` (2..36), digits separated by spaces, '-' first when negative."""
    if not 2 <= base <= len(DIGITS):
        raise ValueError(f"base must lie in [2, {len(DIGITS)}], not {base}")
    digits, rest = [], abs(number)
    while True:
        rest, digit = divmod(rest, base)
        digits.append(DIGITS[digit])
        if rest == 0:
            break
    return " ".join((["-"] if number < 0 else []) + digits[::-1])


def make_problems(count: int, base: int = 5, max_digits: int = 3, seed: int = 0) -> list[Problem]:
    """`count` distinct problems: operands uniform below base ** max_digits, '+' or '-' evenly."""
    top = base**max_digits
    possible = 2 * top * top
    if not 0 < count <= possible // 2:  # at most half the space, so rejection stays quick
        raise ValueError(
            f"count must lie in [1, {possible // 2}] for base {base}, {max_digits} digits"
        )
    rng = random.Random(seed)
    seen: set[tuple[int, str, int]] = set()
    problems = []
    while len(problems) < count:
        a, op, b = rng.randrange(top), rng.choice("+-"), rng.randrange(top)
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        value = a + b if op == "+" else a - b
        question = f"{in_base(a, base)} {op} {in_base(b, base)} ="
        problems.append(Problem(question, in_base(value, base)))
    return problems


def split_problems(
    problems: Sequence[Problem], test_count: int
) -> tuple[list[Problem], list[Problem]]:
    """(train, test): the last `test_count` problems are the test set; any problem whose
    question is also a test question is dropped from the training set."""
    if not 0 < test_count < len(problems):
        raise ValueError(f"test_count must lie in [1, {len(problems) - 1}], not {test_count}")
    test = list(problems[-test_count:])
    held = {p.question for p in test}
    return [p for p in problems[:-test_count] if p.question not in held], test


def write_problems(path: str | Path, problems: Sequence[Problem]) -> None:
    """One `QUESTION<TAB>ANSWER` line per problem, written atomically."""
    with atomic_write(path) as handle:
        handle.writelines(f"{p.question}\t{p.answer}\n" for p in problems)


def read_problems(path: str | Path) -> list[Problem]:
    """The problems of a file written by `write_problems`; a line without a tab is an error."""
    problems = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise UsageError(f"{path}: line {number} holds no tab between question and answer")
        question, answer = line.split("\t", 1)
        problems.append(Problem(question.strip(), answer.strip()))
    if not problems:
        raise UsageError(f"{path} holds no problem")
    return problems
