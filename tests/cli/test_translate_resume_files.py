"""The files behind `textebm translate --resume`: what differs between two runs' identities,
part files (one per process; appended a batch at a time, a torn tail cut off) and the merged
output (complete or absent), without a model."""

from __future__ import annotations

import pytest

from textebm.cli.translate_resume import (
    Part,
    append_part,
    differences,
    finished_output,
    part_path,
    read_part,
    write_part,
    write_settings,
)
from textebm.data.shards import Shard
from textebm.errors import UsageError


def test_differences_by_hand():
    base = {
        "format": 1,
        "settings": {"seed": 1, "sampler": "mh"},
        "model": {"config.json": "a", "model.safetensors": "b"},
        "input": "i",
        "lines": [0, 6],
        "shard": "0/2",
        "processes": 2,
    }
    assert differences(base, base) == []
    other = {
        **base,
        "settings": {"seed": 1, "sampler": "gibbs", "sweeps": 5},  # sweeps: the default
        "model": {"config.json": "a", "model.safetensors": "c", "vocab.txt": "v"},
        "input": "j",
        "shard": "1/2",
        "processes": 2,
    }
    assert differences(base, other) == [
        "--sampler mh -> gibbs",
        "--model files (model.safetensors, vocab.txt)",
        "the input's text",
        "--shard 0/2 -> 1/2",
    ]
    moved = {**base, "lines": [2, 6], "processes": 1}
    assert differences(base, moved) == [
        "input lines [0, 6) -> [2, 6) (--start-line, --end-line)",
        "processes 2 -> 1",
    ]
    assert differences({**base, "format": 0}, base) == ["file format 0 -> 1"]


def test_a_part_is_read_back_only_by_its_own_run(tmp_path):
    identity = {"format": 1, "settings": {"seed": 1}, "model": {}, "input": "i", "lines": [0, 4]}
    identity |= {"shard": "1/2", "processes": 2}
    path = part_path(tmp_path / "o.txt", Shard(1, 2))
    assert path.name == "o.txt.part-1-of-2.json"
    assert read_part(path, identity) == Part()  # none yet
    write_part(path, identity, Part(["a", "b"], ['{"line": 2}', '{"line": 3}']))
    assert read_part(path, identity) == Part(["a", "b"], ['{"line": 2}', '{"line": 3}'])
    with pytest.raises(UsageError, match=r"other settings \(--seed 1 -> 2\)"):
        read_part(path, {**identity, "settings": {"seed": 2}})
    append_part(path, ["c"], ['{"line": 4}'])
    read = read_part(path, identity)
    assert read == Part(["a", "b", "c"], ['{"line": 2}', '{"line": 3}', '{"line": 4}'])
    with path.open("a") as handle:  # a kill in the middle of an append
        handle.write('{"texts": ["d"], "rec')
    assert read_part(path, identity) == read
    assert read_part(path, identity).size == read.size < path.stat().st_size
    with path.open("a") as handle:  # a whole line that is no batch
        handle.write('"][\n')
    with pytest.raises(UsageError, match="is not a part file of textebm translate"):
        read_part(path, identity)
    path.write_text('{"texts": ["a"]')  # torn by hand: its first line is written atomically
    with pytest.raises(UsageError, match="is not a part file of textebm translate"):
        read_part(path, identity)


def test_a_merged_output_is_complete_or_absent(tmp_path):
    """Several processes resuming where none has a part: rank 0 reads the merged output."""
    identity = {"format": 1, "settings": {"seed": 1}, "model": {}, "input": "i", "lines": [0, 3]}
    identity |= {"shard": None, "processes": 2}
    out, records = tmp_path / "o.txt", tmp_path / "o.jsonl"
    assert finished_output(str(out), str(records), identity, 3) is False  # nothing yet
    out.write_text("a\nb\nc\n")
    records.write_text("{}\n{}\n{}\n")
    with pytest.raises(UsageError, match="has no record of the run"):
        finished_output(str(out), str(records), identity, 3)
    write_settings(out, identity, {})
    assert finished_output(str(out), str(records), identity, 3) is True
    assert finished_output(str(out), None, identity, 3) is True
    with pytest.raises(UsageError, match=r"\(processes 2 -> 3\)"):
        finished_output(str(out), str(records), {**identity, "processes": 3}, 3)
    records.write_text("{}\n")
    with pytest.raises(UsageError, match="holds fewer lines than the 3 of this run"):
        finished_output(str(out), str(records), identity, 3)
