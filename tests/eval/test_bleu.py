"""Corpus BLEU (tokenize='none') against hand-computed n-gram precisions."""

from __future__ import annotations

import gzip
import math

import pytest

from textebm.errors import UsageError
from textebm.eval.bleu import bleu_files, corpus_bleu


def test_hand_computed_sentence():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat": matched 1- to 4-grams
    # 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty
    result = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    expected = 100 * math.exp(sum(map(math.log, [5 / 6, 3 / 5, 2 / 4, 1 / 3])) / 4)
    assert result.score == pytest.approx(expected, rel=1e-6)
    assert result.precisions == pytest.approx([500 / 6, 60.0, 50.0, 100 / 3])
    assert "tok:none" in result.signature and result.brevity_penalty == 1.0


def test_no_retokenisation_and_brevity_penalty():
    # "mat." is one token under tokenize='none', so it does not match "mat ."
    glued = corpus_bleu(["the cat sat on the mat."], [["the cat sat on the mat ."]])
    assert glued.precisions[0] == pytest.approx(500 / 6)
    short = corpus_bleu(["the cat sat on"], [["the cat sat on the mat"]])
    assert short.precisions == pytest.approx([100.0] * 4)
    assert short.brevity_penalty == pytest.approx(math.exp(1 - 6 / 4))


def test_files_gz_and_misaligned(tmp_path):
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("a b c d\nx y z w\n")
    ref = tmp_path / "ref.gz"
    with gzip.open(ref, "wt") as out:
        out.write("a b c d\nx y z w\n")
    assert bleu_files(hyp, ref).score == pytest.approx(100.0)
    (tmp_path / "short.txt").write_text("a b c d\n")
    with pytest.raises(UsageError, match="must be line-aligned"):
        bleu_files(hyp, tmp_path / "short.txt")
