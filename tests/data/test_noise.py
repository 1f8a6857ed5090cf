"""Noise files: the header's provenance, the round trip, and one-line errors."""

from __future__ import annotations

import json

import pytest

from textebm.data.labelled import LabelledExample
from textebm.data.noise import (
    NoiseExample,
    read_noise,
    read_noise_header,
    task_fingerprint,
    tokenizer_fingerprint,
    write_noise,
)
from textebm.errors import UsageError
from textebm.models.tiny import wordlevel_tokenizer, wordpiece_tokenizer

ROWS = [LabelledExample("the cat", 0), LabelledExample("a dog", 1)]
PAIRS = [LabelledExample("the cat", 0, "a dog"), LabelledExample("a dog", 1, "the cat")]


def test_round_trip_with_provenance(tmp_path):
    path = tmp_path / "noise.jsonl"
    noise = [NoiseExample("the dog"), NoiseExample("a cat sat")]
    task, tok = task_fingerprint(ROWS), tokenizer_fingerprint(wordlevel_tokenizer())
    assert write_noise(path, noise, task, tok, seed=3) == 2
    assert read_noise(path, task=task, tokenizer=tok) == noise
    header = read_noise_header(path)
    assert header == {"textebm_noise": 1, "task": task, "tokenizer": tok, "seed": 3}
    assert json.loads(path.read_text().splitlines()[1]) == {"text": "the dog"}


def test_pairs_keep_their_pairing(tmp_path):
    path = tmp_path / "noise.jsonl"
    noise = [NoiseExample("the dog", "a cat")]
    write_noise(path, noise, task_fingerprint(PAIRS), "t")
    assert read_noise(path, pairs=True) == noise
    with pytest.raises(UsageError, match="single sentences"):
        read_noise(path, pairs=False)


def test_fingerprints():
    """The task hashes texts (and pairs) but not labels; the tokenizer hashes the vocabulary."""
    relabelled = [LabelledExample(r.text, 1 - r.label) for r in ROWS]
    assert task_fingerprint(ROWS) == task_fingerprint(relabelled)
    assert task_fingerprint(ROWS) != task_fingerprint(ROWS[:1])
    assert task_fingerprint(ROWS) != task_fingerprint(PAIRS)
    tokenizer = wordlevel_tokenizer()
    before = tokenizer_fingerprint(tokenizer)
    tokenizer(["the cat"], truncation=True, max_length=4, padding="max_length")
    assert tokenizer_fingerprint(tokenizer) == before  # using it changes nothing
    assert tokenizer_fingerprint(wordpiece_tokenizer()) != before


def test_another_task_or_tokenizer_refused(tmp_path):
    path = tmp_path / "noise.jsonl"
    write_noise(path, [NoiseExample("the dog")], "aaaa", "bbbb")
    with pytest.raises(UsageError, match="another task"):
        read_noise(path, task="cccc", tokenizer="bbbb")
    with pytest.raises(UsageError, match="another tokenizer"):
        read_noise(path, task="aaaa", tokenizer="cccc")


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"text": "a"}'], "not a textebm noise file"),
        (["not json"], "not a textebm noise file"),
        (['{"textebm_noise": 2, "task": "a", "tokenizer": "b"}'], "format 2"),
        (['{"textebm_noise": 1, "tokenizer": "b"}'], "no 'task'"),
        (['{"textebm_noise": 1, "task": "a", "tokenizer": "b"}', "{oops"], "line 2 is not valid"),
        (['{"textebm_noise": 1, "task": "a", "tokenizer": "b"}', '{"text": " "}'], "line 2 has no"),
        (['{"textebm_noise": 1, "task": "a", "tokenizer": "b"}', "[1]"], "line 2 has no"),
        (['{"textebm_noise": 1, "task": "a", "tokenizer": "b"}'], "no noise examples"),
        ([], "not a textebm noise file"),
    ],
)
def test_malformed_files(tmp_path, lines, message):
    path = tmp_path / "noise.jsonl"
    path.write_text("\n".join(lines) + "\n" if lines else "")
    with pytest.raises(UsageError, match=message):
        read_noise(path)


def test_pair_missing_for_a_pair_task(tmp_path):
    path = tmp_path / "noise.jsonl"
    write_noise(path, [NoiseExample("the dog")], "a", "b")
    with pytest.raises(UsageError, match='no non-empty "text_pair"'):
        read_noise(path, pairs=True)
