"""Arithmetic problems in a base: digits by hand, distinct seeded problems, disjoint splits."""

from __future__ import annotations

import pytest

from textebm.data.arithmetic import (
    Problem,
    in_base,
    make_problems,
    read_problems,
    split_problems,
    write_problems,
)
from textebm.errors import UsageError


def test_numbers_in_a_base_by_hand():
    assert in_base(11, 5) == "2 1"  # 2 * 5 + 1
    assert in_base(0, 5) == "0"
    assert in_base(-3, 5) == "- 3"
    assert in_base(-25, 5) == "- 1 0 0"
    assert in_base(255, 16) == "f f"
    with pytest.raises(ValueError):
        in_base(3, 1)


def _value(text: str, base: int) -> int:
    """An independent reading: Python's int() parses the digits back."""
    squashed = text.replace(" ", "")
    return -int(squashed[1:], base) if squashed.startswith("-") else int(squashed, base)


def test_problems_are_distinct_seeded_and_right():
    problems = make_problems(300, base=5, max_digits=2, seed=3)
    assert len({p.question for p in problems}) == 300
    assert problems == make_problems(300, base=5, max_digits=2, seed=3)
    assert problems != make_problems(300, base=5, max_digits=2, seed=4)
    for problem in problems:
        a, op, b, equals = _split(problem.question)
        assert equals == "="
        expected = _value(a, 5) + _value(b, 5) if op == "+" else _value(a, 5) - _value(b, 5)
        assert _value(problem.answer, 5) == expected
        assert max(_value(a, 5), _value(b, 5)) < 25
    ops = [_split(p.question)[1] for p in problems]
    assert 100 < ops.count("+") < 200  # both operations, about evenly
    with pytest.raises(ValueError):
        make_problems(10**6, base=2, max_digits=2)


def _split(question: str) -> tuple[str, str, str, str]:
    """'1 2 + 4 =' -> ('1 2', '+', '4', '=')."""
    words = question.split()
    at = next(i for i, w in enumerate(words) if w in "+-" and i > 0)
    return " ".join(words[:at]), words[at], " ".join(words[at + 1 : -1]), words[-1]


def test_split_shares_no_question_and_files_round_trip(tmp_path):
    problems = make_problems(200, base=5, max_digits=2, seed=0)
    problems.append(problems[0])  # a duplicate question in the test part
    train, test = split_problems(problems, 20)
    assert len(test) == 20 and not {p.question for p in train} & {p.question for p in test}
    assert len(train) == 180  # problems[0] left the training set
    write_problems(tmp_path / "train.tsv", train)
    assert read_problems(tmp_path / "train.tsv") == train
    assert (tmp_path / "train.tsv").read_text().splitlines()[0] == (
        f"{train[0].question}\t{train[0].answer}"
    )
    (tmp_path / "bad.tsv").write_text("1 + 2 = 3\n")
    with pytest.raises(UsageError, match="line 1 holds no tab"):
        read_problems(tmp_path / "bad.tsv")
    assert Problem("1 =", "1") == Problem("1 =", "1")
