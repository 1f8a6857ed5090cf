"""Parallel text: two line-aligned files, line i of one the translation of line i of the other.

Multi30k, WMT and most translation corpora ship this way (`train.en`, `train.de`; `.gz` read
transparently). Misalignment is the common failure, and silent when it happens: every pair after
a missing line is wrong. So a length mismatch, or a line blank on one side only, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textebm.data.files import read_lines
from textebm.errors import UsageError


@dataclass(frozen=True)
class ParallelPair:
    """A source sentence and its target (translation)."""

    source: str
    target: str


def read_parallel(source: str | Path, target: str | Path) -> list[ParallelPair]:
    """The line pairs of two aligned files, in order; lines blank on both sides are skipped.

    Raises UsageError if the files hold different numbers of lines, or if a line is blank on one
    side only (naming the 1-based line number), or if no pair is left.
    """
    sources, targets = read_lines(source), read_lines(target)
    if len(sources) != len(targets):
        raise UsageError(
            f"parallel files are not line-aligned: {source} has {len(sources)} lines, "
            f"{target} has {len(targets)}"
        )
    pairs = []
    for number, (left, right) in enumerate(zip(sources, targets, strict=True), start=1):
        if not left.strip() and not right.strip():
            continue
        if not left.strip() or not right.strip():
            empty, other = (source, target) if not left.strip() else (target, source)
            raise UsageError(
                f"parallel files are not line-aligned: line {number} is blank in {empty} "
                f"but not in {other}"
            )
        pairs.append(ParallelPair(left, right))
    if not pairs:
        raise UsageError(f"{source} and {target} hold no text")
    return pairs
