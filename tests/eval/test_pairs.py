"""Minimal-pair evaluation: reading pairs, hand-computed accuracy, energies against the energy
classes, and the energy registry that `score` and `eval pairs` share."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from textebm.energies import CausalLMEnergy, MaskedLMEnergy
from textebm.energies.registry import ENERGIES, build_energy, check_energy
from textebm.errors import UsageError
from textebm.eval.pairs import Pair, read_pairs, score_pairs, summarize


@dataclass
class _Scored:
    energy: float
    n_tokens: int = 1
    n_unk: int = 0


class _LengthEnergy:
    """E(text) = its length in characters; "?" counts as an unknown token."""

    def score_texts(self, texts, progress=False):
        return [_Scored(float(len(t)), len(t.split()), t.count("?")) for t in texts]


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def test_accuracy_ties_half_per_group_and_identical_skipped(tmp_path):
    rows = [
        {"sentence_good": "ab", "sentence_bad": "abc", "UID": "a"},  # win
        {"sentence_good": "ab", "sentence_bad": "cd", "UID": "a"},  # tie
        {"sentence_good": "abcd", "sentence_bad": "ab?", "UID": "b"},  # loss
        {"sentence_good": "same", "sentence_bad": "same", "UID": "b"},  # skipped
        {"sentence_good": "a", "sentence_bad": "abc", "UID": "b"},  # win
        {"sentence_good": "a", "sentence_bad": "ab", "UID": "b"},  # win
    ]
    pairs = read_pairs(_write(tmp_path / "p.jsonl", rows))
    assert pairs.group_field == "UID"
    assert [p.line for p in pairs.skipped] == [4]
    records = score_pairs(_LengthEnergy(), pairs.pairs)
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6]
    assert [r["difference"] for r in records] == [1.0, 0.0, -1.0, 2.0, 1.0]
    assert [(r["correct"], r["tie"]) for r in records] == [
        (True, False),
        (False, True),
        (False, False),
        (True, False),
        (True, False),
    ]
    summary = summarize(records, pairs.skipped)
    # (3 wins + 0.5 tie) / 5 pairs; a: (1 + 0.5) / 2; b: 2 / 3; macro: mean of the two
    assert summary["accuracy"] == pytest.approx(0.7)
    assert (summary["pairs"], summary["correct"], summary["ties"]) == (5, 3, 1)
    assert summary["skipped_identical"] == 1 and summary["skipped_lines"] == [4]
    assert summary["groups"]["a"] == {
        "accuracy": 0.75,
        "correct": 1,
        "ties": 1,
        "pairs": 2,
        "skipped_identical": 0,
    }
    assert summary["groups"]["b"]["accuracy"] == pytest.approx(2 / 3)
    assert summary["groups"]["b"]["skipped_identical"] == 1
    assert summary["macro_accuracy"] == pytest.approx((0.75 + 2 / 3) / 2)
    assert (summary["pairs_with_unk"], summary["n_unk"]) == (1, 1)


def test_groups_default_to_uid_only_when_present(tmp_path):
    plain = _write(tmp_path / "plain.jsonl", [{"sentence_good": "a", "sentence_bad": "b"}])
    assert read_pairs(plain).group_field is None
    assert "groups" not in summarize(score_pairs(_LengthEnergy(), read_pairs(plain).pairs), [])
    blimp = _write(tmp_path / "b.jsonl", [{"sentence_good": "a", "sentence_bad": "b", "UID": 7}])
    assert read_pairs(blimp).pairs[0].group == "7"
    assert read_pairs(blimp, group_field="").group_field is None  # "" turns groups off
    custom = [{"good": "a", "bad": "b", "kind": "x"}]
    pairs = read_pairs(_write(tmp_path / "c.jsonl", custom), "good", "bad", "kind")
    assert pairs.pairs == [Pair(1, "a", "b", "x")]


OK = '{"sentence_good": "a b", "sentence_bad": "b a", "UID": "u"}'


@pytest.mark.parametrize(
    ("line", "group_field", "message"),
    [
        ("{not json", None, "line 2 is not valid JSON"),
        ("[1, 2]", None, "line 2 is not a JSON object"),
        ("", None, "line 2 is empty"),
        ('{"sentence_good": "a", "UID": "u"}', None, "line 2 has no field 'sentence_bad'"),
        ('{"sentence_good": " ", "sentence_bad": "b", "UID": "u"}', None, "empty sentence"),
        ('{"sentence_good": 3, "sentence_bad": "b", "UID": "u"}', None, "is not a string"),
        ('{"sentence_good": "a", "sentence_bad": "b"}', None, "line 2 has no group field 'UID'"),
        ('{"sentence_good": "a", "sentence_bad": "b", "UID": [1]}', None, "not a string or an"),
        (OK, "phenomenon", "line 1 has no group field 'phenomenon'"),
    ],
)
def test_bad_lines_are_usage_errors_naming_the_line(tmp_path, line, group_field, message):
    path = _write(tmp_path / "p.jsonl", [OK, line])
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        read_pairs(path, group_field=group_field)


def test_energies_are_the_energy_classes_own(wordlevel, clm, sentences):
    pairs = [Pair(i + 1, good, bad) for i, (good, bad) in enumerate(itertools.pairwise(sentences))]
    for energy in (MaskedLMEnergy(*wordlevel), CausalLMEnergy(*clm)):
        direct = {s.text: s.energy for s in energy.score_texts(sentences)}
        for record in score_pairs(energy, pairs):
            assert record["energy_good"] == pytest.approx(direct[record["good"]], abs=1e-5)
            assert record["energy_bad"] == pytest.approx(direct[record["bad"]], abs=1e-5)
            expected = direct[record["good"]] < direct[record["bad"]]
            assert record["correct"] == expected


def test_a_sentence_the_energy_refuses_names_its_line(wordlevel):
    long = " ".join(["the cat sat on the mat ."] * 30)  # more than the tiny model's 128 tokens
    pairs = [Pair(3, "the cat", "cat the"), Pair(8, "a dog", long)]
    with pytest.raises(UsageError, match=r"p\.jsonl: line 8: bad sentence: 212 tokens"):
        score_pairs(MaskedLMEnergy(*wordlevel), pairs, source="p.jsonl")


def test_registry_builds_each_family(wordlevel_dir, clm_dir):
    assert isinstance(build_energy("norm", str(wordlevel_dir), device="cpu"), MaskedLMEnergy)
    raw = build_energy("raw", str(wordlevel_dir), device="cpu", whole_word=True, batch_tokens=64)
    assert (raw.kind, raw.whole_word, raw.batch_tokens) == ("raw", True, 64)
    clm = build_energy("clm", str(clm_dir), device="cpu", temperature=2.0)
    assert isinstance(clm, CausalLMEnergy) and clm.temperature == 2.0
    with pytest.raises(UsageError, match="--whole-word is for masked LMs, not --energy clm"):
        check_energy("clm", whole_word=True)
    with pytest.raises(
        UsageError, match=r"unknown --energy 'nope'; choose from norm, raw, clm, electric, scalar"
    ):
        check_energy("nope")
    assert {"norm", "raw", "clm", "electric"} <= set(ENERGIES)


def test_registry_and_package_import_without_torch():
    """`eval` and `score` read the registry to build their parsers: `textebm --help` must not
    wait for torch."""
    code = (
        "import argparse, sys, textebm.cli.eval, textebm.cli.score; "
        "jobs = argparse.ArgumentParser().add_subparsers(); "
        "textebm.cli.eval.register(jobs); textebm.cli.score.register(jobs); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "from textebm.energies import MaskedLMEnergy, __all__, _EXPORTS; "
        "assert sorted(__all__) == sorted(_EXPORTS)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
