"""`textebm translate --resume` on one process: it continues only the run that wrote the partial
output (same decoding settings, model files, input lines, line range, shard and processes), names
what differs otherwise, and lets --device and --batch-tokens change."""

# ruff: noqa: F811 (the shared fixtures, imported by name, are test arguments)
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from tests.cli.translate_setup import (  # noqa: F401 (fixtures are used by name)
    COMMON,
    LINES,
    lines,
    short_dir,
    source,
    translate,
)
from tests.two_processes import torchrun_two
from textebm.cli.translate_resume import (
    Part,
    check_other_parts,
    part_path,
    read_settings,
    settings_path,
    write_part,
)
from textebm.data.shards import Shard
from textebm.errors import UsageError
from textebm.models.loading import load_cmlm
from textebm.samplers import translate as translate_module

_translate, _lines = translate, lines
pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def _interrupt_after(monkeypatch, batches: int) -> None:
    """Make decoding stop (as Ctrl-C would) when batch `batches` + 1 starts."""
    original, calls = translate_module.CMLMTranslator.decode, []

    def decode(self, *args):
        if len(calls) == batches:
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(translate_module.CMLMTranslator, "decode", decode)


def _whole_then_interrupted(short_dir, source, tmp_path, batches: int):
    """One uninterrupted run (whole.txt, whole.jsonl), then one stopped after `batches` batches
    (out.txt, out.jsonl): (whole, whole_records, out, records)."""
    whole, whole_records = tmp_path / "whole.txt", tmp_path / "whole.jsonl"
    assert _translate(short_dir, source, whole, "--records", str(whole_records)) == 0
    out, records = tmp_path / "out.txt", tmp_path / "out.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_after(patch, batches)
        assert _translate(short_dir, source, out, "--records", str(records)) == 130
    return whole, whole_records, out, records


def _without_seconds(path) -> list[dict]:
    return [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in _lines(path)]


def test_resume_refuses_another_run_naming_what_differs(short_dir, source, tmp_path, capsys):
    whole, whole_records, out, records = _whole_then_interrupted(short_dir, source, tmp_path, 1)
    kept = (out.read_bytes(), records.read_bytes(), settings_path(out).read_bytes())
    assert len(_lines(out)) == 2
    saved = read_settings(out)
    assert saved["processes"] == 1 and saved["lines"] == [0, 6] and saved["shard"] is None

    other_model = shutil.copytree(short_dir, tmp_path / "other_model")
    model, _ = load_cmlm(str(other_model), device="cpu")
    with torch.no_grad():  # one weight moved: another model with the same files' names
        model.length_head.bias[1] += 1.0
    model.save_pretrained(other_model)
    edited = tmp_path / "edited.txt"
    edited.write_text("\n".join([*LINES[:5], "cats eat fish"]) + "\n")
    cases = [
        (short_dir, source, ["--seed", "2"], "--seed 1 -> 2"),
        (short_dir, source, ["--sampler", "gibbs"], "--sampler mh -> gibbs"),
        (short_dir, source, ["--sweeps", "3"], "--sweeps 2 -> 3"),
        (short_dir, source, ["--batch-sentences", "3"], "--batch-sentences 2 -> 3"),
        (short_dir, source, ["--anneal-to", "0.5"], "--anneal-to none -> 0.5"),
        (short_dir, source, ["--start-line", "2"], "input lines [0, 6) -> [2, 6)"),
        (short_dir, source, ["--end-line", "5"], "input lines [0, 6) -> [0, 5)"),
        (short_dir, source, ["--shard", "0/2"], "--shard none -> 0/2"),
        (short_dir, edited, [], "the input's text"),
        (other_model, source, [], "--model files (model.safetensors)"),
        (short_dir, source, ["--seed", "3", "--sweeps", "1"], "--seed 1 -> 3, --sweeps 2 -> 1"),
    ]
    capsys.readouterr()
    for model, text, extra, message in cases:
        code = _translate(model, text, out, "--records", str(records), "--resume", *extra)
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert "other settings" in err
        assert (out.read_bytes(), records.read_bytes(), settings_path(out).read_bytes()) == kept

    # what does not change the output does not block: another device string, another chunking
    # of the passes, the same lines with --end-line past the end, a copy of the model elsewhere
    copy = shutil.copytree(short_dir, tmp_path / "copy")
    extra = ["--batch-tokens", "512", "--end-line", "60", "--device", "cpu"]
    assert _translate(copy, source, out, "--records", str(records), "--resume", *extra) == 0
    assert _lines(out) == _lines(whole)
    assert _without_seconds(records) == _without_seconds(whole_records)


def test_resume_refuses_an_output_it_cannot_check(short_dir, source, tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("one\ntwo\n")  # no OUT.run.json: written by hand, or by an older textebm
    assert _translate(short_dir, source, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "has no record of the run that wrote it (out.txt.run.json is missing)" in err
    assert _lines(out) == ["one", "two"]


def test_resume_cuts_a_torn_tail_back_to_whole_batches(short_dir, source, tmp_path):
    """A kill in the middle of an append leaves a torn line and maybe part of a batch: --resume
    keeps the whole batches only, and writes what one uninterrupted run writes."""
    whole, whole_records, out, records = _whole_then_interrupted(short_dir, source, tmp_path, 1)
    with out.open("a") as handle:
        handle.write("a third line\nhalf a fou")  # a whole line of batch 2, then a torn one
    with records.open("a") as handle:
        handle.write('{"line": 2, "sou')
    assert _translate(short_dir, source, out, "--records", str(records), "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert _without_seconds(records) == _without_seconds(whole_records)


@pytest.mark.parametrize("behind", ["records", "output"])
def test_resume_continues_from_the_shorter_of_output_and_records(
    short_dir, source, tmp_path, behind
):
    """A kill between the two appends of a batch leaves the output a batch ahead of the
    records (or, were the order reversed, behind): the run resumes from the shorter one."""
    whole, whole_records, out, records = _whole_then_interrupted(short_dir, source, tmp_path, 2)
    assert len(_lines(out)) == len(_lines(records)) == 4
    shorter = records if behind == "records" else out
    shorter.write_text("".join(line + "\n" for line in _lines(shorter)[:2]))
    assert _translate(short_dir, source, out, "--records", str(records), "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert _without_seconds(records) == _without_seconds(whole_records)


def test_resume_refuses_records_of_another_run(short_dir, source, tmp_path, capsys):
    """Run A writes records; run B (another seed, no --records) is interrupted: A's records are
    not B's, though the counts would allow a pairing."""
    out, records = tmp_path / "out.txt", tmp_path / "out.jsonl"
    assert _translate(short_dir, source, out, "--records", str(records)) == 0
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_after(patch, 1)
        assert _translate(short_dir, source, out, "--seed", "2") == 130
    kept = records.read_bytes()
    args = ["--seed", "2", "--records", str(records), "--resume"]
    assert _translate(short_dir, source, out, *args) == 2
    err = capsys.readouterr().err
    assert "line 1 of" in err and "they are not from one run" in err, err
    assert records.read_bytes() == kept and len(_lines(out)) == 2
    records.unlink()
    assert _translate(short_dir, source, out, *args) == 2
    assert "out.jsonl does not exist: the run that wrote them kept no --records" in (
        capsys.readouterr().err
    )


def test_each_batch_is_appended_not_the_whole_file_rewritten(short_dir, source, tmp_path):
    """A hard link taken after the first batch sees every later batch: the files grow in place
    (rewriting them would cost the whole file so far after every batch)."""
    out, records = tmp_path / "out.txt", tmp_path / "out.jsonl"
    original, calls = translate_module.CMLMTranslator.decode, []

    def decode(self, *args):
        if len(calls) == 1:  # the first batch is written
            os.link(out, tmp_path / "out.link")
            os.link(records, tmp_path / "records.link")
        calls.append(1)
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(translate_module.CMLMTranslator, "decode", decode)
        assert _translate(short_dir, source, out, "--records", str(records)) == 0
    assert len(calls) == 3 and len(_lines(out)) == len(LINES)
    assert (tmp_path / "out.link").read_bytes() == out.read_bytes()
    assert (tmp_path / "records.link").read_bytes() == records.read_bytes()


def test_line_breaks_inside_a_translation_are_written_as_spaces(short_dir, source, tmp_path):
    """One output line per input line, and a resumed run counts them right; --records keeps the
    text as decoded."""
    original = translate_module.CMLMTranslator.decode

    def with_breaks(self, *args):
        results = original(self, *args)
        for result in results:
            result.text = f"{result.text}\nsecond\r\nthird\rfourth\u2028fifth"
        return results

    whole, whole_records = tmp_path / "whole.txt", tmp_path / "whole.jsonl"
    out, records = tmp_path / "out.txt", tmp_path / "out.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(translate_module.CMLMTranslator, "decode", with_breaks)
        assert _translate(short_dir, source, whole, "--records", str(whole_records)) == 0
        _interrupt_after(patch, 1)
        assert _translate(short_dir, source, out, "--records", str(records)) == 130
    texts = whole.read_text().split("\n")
    assert len(texts) == len(LINES) + 1 and texts[-1] == ""
    assert all(t.endswith(" second third fourth fifth") for t in texts[:-1])
    rows = [json.loads(r) for r in whole_records.read_text().split("\n")[:-1]]
    decoded = [r["text"].removesuffix("\nsecond\r\nthird\rfourth\u2028fifth") for r in rows]
    assert [d + " second third fourth fifth" for d in decoded] == texts[:-1]
    assert all("\n" not in d for d in decoded)  # each record held the text as decoded
    assert len(_lines(out)) == 2
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(translate_module.CMLMTranslator, "decode", with_breaks)
        assert _translate(short_dir, source, out, "--records", str(records), "--resume") == 0
    assert out.read_bytes() == whole.read_bytes()
    assert _without_seconds(records) == _without_seconds(whole_records)


def test_a_fresh_run_leaves_the_last_output_until_its_first_batch(
    short_dir, source, tmp_path, capsys
):
    """Run A completes; run B (other seed) is stopped before its first batch is done: A's output
    and identity stay, so resuming B is refused; once B has written a batch, B resumes and A's
    settings are refused."""
    out = tmp_path / "out.txt"
    assert _translate(short_dir, source, out) == 0
    first = out.read_text()
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_after(patch, 0)
        assert _translate(short_dir, source, out, "--seed", "2") == 130
    assert out.read_text() == first
    assert _translate(short_dir, source, out, "--seed", "2", "--resume") == 2
    assert "--seed 1 -> 2" in capsys.readouterr().err
    assert _translate(short_dir, source, out, "--resume") == 0  # A is complete
    assert "complete already" in capsys.readouterr().err
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_after(patch, 1)
        assert _translate(short_dir, source, out, "--seed", "2") == 130
    assert len(_lines(out)) == 2 and read_settings(out)["settings"]["seed"] == 2
    assert _translate(short_dir, source, out, "--resume") == 2
    assert "--seed 2 -> 1" in capsys.readouterr().err
    assert _translate(short_dir, source, out, "--seed", "2", "--resume") == 0
    fresh = tmp_path / "fresh.txt"
    assert _translate(short_dir, source, fresh, "--seed", "2") == 0
    assert out.read_text() == fresh.read_text() != first


def test_one_process_does_not_resume_the_parts_of_several(short_dir, source, tmp_path, capsys):
    out = tmp_path / "out.txt"
    write_part(part_path(out, Shard(1, 2)), {"format": 1}, Part(["x"], ["{}"]))
    assert _translate(short_dir, source, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "out.txt.part-1-of-2.json holds the progress of an interrupted run on 2 processes" in err
    check_other_parts(str(out), 2)  # a resume on 2 processes continues them
    with pytest.raises(UsageError, match="resume it on 2 \\(torchrun --nproc-per-node 2\\)"):
        check_other_parts(str(out), 3)
    assert _translate(short_dir, source, out) == 0  # a fresh run clears them
    assert not list(tmp_path.glob("out.txt.part-*"))


class _RankZeroOf:
    """Rank 0 of a run on `world` processes, in this process alone: it gathers only its own
    items, so the merged output holds its shard (the file logic of several processes, fast)."""

    def __init__(self, world: int) -> None:
        self.rank, self.world, self.device, self.is_main = 0, world, torch.device("cpu"), True

    @property
    def shard(self) -> Shard:
        return Shard(0, self.world)

    def gather(self, items: list) -> list:
        return list(items)

    def wait(self) -> None:
        pass


def test_parts_are_appended_and_a_fresh_run_clears_other_runs_parts(
    short_dir, source, tmp_path, monkeypatch
):
    """A fresh run on 2 processes removes the parts of an earlier run on 3 (else they would
    block its --resume); its part grows a batch at a time; a torn last batch is cut off."""
    one = tmp_path / "one.txt"
    assert _translate(short_dir, source, one, "--shard", "0/2") == 0  # lines 0-2: rank 0's
    monkeypatch.setattr("textebm.data.shards.Processes", lambda cpu=False: _RankZeroOf(2))
    out = tmp_path / "out.txt"
    stale = [part_path(out, Shard(2, 3)), part_path(out, Shard(0, 1))]
    for path in stale:
        write_part(path, {"format": 1}, Part(["x"], ["{}"]))
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_after(patch, 1)
        assert _translate(short_dir, source, out) == 130
    assert not any(path.exists() for path in stale)
    mine = part_path(out, Shard(0, 2))
    assert len(mine.read_text().splitlines()) == 1  # the first batch, with the identity
    with mine.open("a") as handle:
        handle.write('{"texts": ["a torn')
    assert _translate(short_dir, source, out, "--resume") == 0
    assert out.read_bytes() == one.read_bytes() and not mine.exists()


def _torchrun(args: list[str], script: str | None = None, **env) -> subprocess.CompletedProcess:
    program = [script] if script else ["-m", "textebm"]
    return torchrun_two(*program, "translate", *args, timeout=180, **env)


@pytest.mark.slow
def test_two_processes_killed_then_resumed_write_the_two_shards(
    short_dir, source, tmp_path, capsys
):
    """6 lines on 2 processes in batches of 2 (shards 0-2 and 3-5), both killed after their
    first batch: each part holds that batch (and the part of a run on 3 processes is gone); a
    resume where one part is another run's stops with a message and leaves the parts; the
    resume with the run's settings appends the second batches and writes bitwise what the two
    one-process --shard runs write (records too, but for the seconds)."""
    out, records = tmp_path / "two.txt", tmp_path / "two.jsonl"
    args = ["--model", str(short_dir), *COMMON, "--sampler", "mh", str(source)]
    args += ["-o", str(out), "--records", str(records)]
    stale = part_path(out, Shard(1, 3))  # of an earlier run on 3 processes: cleared by rank 0
    write_part(stale, {"format": 1}, Part(["x"], ["{}"]))
    killed = _torchrun(args, str(Path(__file__).with_name("translate_killed.py")), KILL_AFTER="1")
    assert killed.returncode != 0 and not out.exists() and not records.exists()
    assert not stale.exists()
    parts = [part_path(out, Shard(rank, 2)) for rank in range(2)]
    saved = [json.loads(path.read_text()) for path in parts]
    assert [len(part["texts"]) for part in saved] == [2, 2]
    assert [json.loads(r)["line"] for part in saved for r in part["records"]] == [0, 1, 3, 4]

    # one process finds a part of another run: the resume stops with its message, parts kept
    intact = parts[1].read_text()
    parts[1].write_text(intact.replace('"seed": 1', '"seed": 2'))
    refused = _torchrun([*args, "--resume"])
    assert refused.returncode != 0 and "(--seed 2 -> 1)" in refused.stderr
    assert json.loads(parts[0].read_text()) == saved[0]
    parts[1].write_text(intact)

    resumed = _torchrun([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 lines," in resumed.stderr  # the lines left: one batch of one line per process
    shards, shard_records = [], []
    for rank in range(2):
        one, one_records = tmp_path / f"s{rank}.txt", tmp_path / f"s{rank}.jsonl"
        extra = ["--shard", f"{rank}/2", "--records", str(one_records)]
        assert _translate(short_dir, source, one, "--sampler", "mh", *extra) == 0
        shards += _lines(one)
        shard_records += _without_seconds(one_records)
    assert _lines(out) == shards and len(shards) == len(LINES)
    assert _without_seconds(records) == shard_records
    assert not any(path.exists() for path in parts)
    assert read_settings(out)["processes"] == 2 and read_settings(out)["shard"] is None
    # one process continues only one-process runs
    capsys.readouterr()
    assert _translate(short_dir, source, out, "--sampler", "mh", "--resume") == 2
    assert "(processes 2 -> 1)" in capsys.readouterr().err
