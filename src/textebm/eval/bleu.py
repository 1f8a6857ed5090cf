"""Corpus BLEU of translations with sacrebleu, on text that is already tokenised.

Multi30k's `tok/` references are lower-cased and tokenised, and so are textebm's translations
(`samplers.beam.decode_target` keeps their spacing), so sacrebleu must not tokenise again:
`tokenize='none'`, BLEU over whitespace-separated tokens. The signature sacrebleu reports (its
version, tokenisation, smoothing, casing) goes with every score, so a table can say exactly what
was computed.

    result = bleu_files("test.mh.txt", "tok/test_2016_flickr.lc.norm.tok.en.gz")
    result.score, result.signature   # 0-100, "nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|..."
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from textebm.data.files import read_lines
from textebm.errors import UsageError


@dataclass(frozen=True)
class BleuResult:
    """score: corpus BLEU, 0-100; signature: sacrebleu's; precisions: n-gram precisions (%)
    for n = 1..4; brevity_penalty; hypothesis_length and reference_length: tokens; lines."""

    score: float
    signature: str
    precisions: list[float]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int
    lines: int

    def as_dict(self) -> dict:
        return asdict(self)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> BleuResult:
    """BLEU of `hypotheses` against one or more reference sets (each one line per hypothesis),
    tokenize='none' (see the module notes); sacrebleu's default exponential smoothing."""
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise ImportError("BLEU needs sacrebleu: pip install 'textebm[eval]'") from None
    for number, reference in enumerate(references, start=1):
        if len(reference) != len(hypotheses):
            raise ValueError(
                f"reference set {number} has {len(reference)} lines for {len(hypotheses)} "
                "hypotheses"
            )
    bleu = BLEU(tokenize="none")
    score = bleu.corpus_score(list(hypotheses), [list(r) for r in references])
    return BleuResult(
        score=score.score,
        signature=str(bleu.get_signature()),
        precisions=list(score.precisions),
        brevity_penalty=score.bp,
        hypothesis_length=score.sys_len,
        reference_length=score.ref_len,
        lines=len(hypotheses),
    )


def bleu_files(hypothesis: str | Path, *references: str | Path) -> BleuResult:
    """`corpus_bleu` of a translation file against reference files (`.gz` read transparently);
    files of different line counts are a one-line error naming them."""
    if not references:
        raise UsageError("give at least one reference file")
    hypotheses = read_lines(hypothesis)
    sets = [read_lines(path) for path in references]
    for path, lines in zip(references, sets, strict=True):
        if len(lines) != len(hypotheses):
            raise UsageError(
                f"{path} has {len(lines)} lines but {hypothesis} {len(hypotheses)}: "
                "translations and references must be line-aligned"
            )
    return corpus_bleu(hypotheses, sets)
