"""What an interrupted `textebm translate` leaves behind; how `--resume` checks and continues it.

A run's identity is what decides its output (`run_identity`): every decoding field of
`TranslateConfig` (not --device or --batch-tokens, which decide where and in what chunks the same
passes run), the model folder's file contents, the selected input lines' contents and their range,
the shard and the number of processes (a W-process run's batches start at other lines than a
one-process run's, so their outputs differ). It is a small JSON dict; `--resume` compares it with
the one saved by the run that wrote the partial output and refuses a mismatch, naming the fields.

Files beside `-o OUT`:
- `OUT.run.json`: the identity of the run whose translations OUT holds. One process appends each
  batch to OUT, then to --records, each synced to disk; its first write removes the old OUT (and
  records) before it saves the new identity, so that at no moment is an old OUT paired with a
  new identity. A kill leaves each file whole batches and at most one torn batch, and OUT may
  be a batch ahead of the records: `kept_output` keeps the lines both hold, cut back to whole
  batches, and checks that each record is its output line's.
- `OUT.part-R-of-W.json` (several processes): process R's translations and records so far, as
  JSON lines: the first (written atomically) holds the identity and the first batch, then one
  line per batch is appended and synced, so a part is whole batches, its own, and at most a
  torn last line that `read_part` leaves out. At the end rank 0 gathers every part (through the
  process group, not the file system, which need not be shared), writes OUT, records and
  OUT.run.json, and the parts go. A fresh (not --resume) run first removes its own part and,
  on rank 0, the parts of a run on another number of processes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from textebm.data.fingerprint import lines_fingerprint, model_fingerprint
from textebm.data.shards import Shard
from textebm.errors import UsageError
from textebm.samplers.translate_config import TranslateConfig

FORMAT = 1
# what str.splitlines() breaks a line at: none may be inside an output line (`output_line`)
_LINE_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# fields of the identity kept apart from "settings": the model by its files, the line range as
# the lines actually selected, the shard as the run's
_APART = ("model", "start_line", "end_line", "shard")


def output_line(text: str) -> str:
    """A translation as its line of OUT: every line break in it (possible where decoding falls
    back to `convert_tokens_to_string`, e.g. byte-level BPE) made a space, so that OUT keeps one
    line per input line and a resumed run counts them right. --records keeps the text as is."""
    return _LINE_BREAKS.sub(" ", text)


def run_identity(
    config: TranslateConfig, lines: list[str], shard: Shard | None, processes: int
) -> dict:
    """The JSON-ready identity of a run of `config` over `lines` (see the module notes).

    shard: the shard this process decodes (None: every selected line); processes: how many
    processes the run was launched on (1 for a lone `--shard R/W` run).
    """
    from textebm.samplers.translate_lines import selected_lines  # torch: not at CLI start-up

    whole = selected_lines(len(lines), config)
    settings = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.metadata.get("fingerprint", True) and f.name not in _APART
    }
    return {
        "format": FORMAT,
        "settings": settings,
        "model": model_fingerprint(config.model) if config.model is not None else {},
        "input": lines_fingerprint(lines[whole.start : whole.stop]),
        "lines": [whole.start, whole.stop],
        "shard": None if shard is None else str(shard),
        "processes": processes,
    }


def differences(found: dict, expected: dict) -> list[str]:
    """What differs between a saved identity and this run's, one phrase each, saved value first.
    A setting the saved identity lacks (a field added since) counts as its default there."""
    found = json.loads(json.dumps(found))  # both as JSON gives them: lists, not tuples
    expected = json.loads(json.dumps(expected))
    if found.get("format") != expected["format"]:
        return [f"file format {found.get('format')} -> {expected['format']}"]
    out = []
    defaults = {f.name: f.default for f in dataclasses.fields(TranslateConfig)}
    old, new = found.get("settings", {}), expected["settings"]
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name, defaults.get(name)), new.get(name, defaults.get(name))
        if before != after:
            out.append(f"--{name.replace('_', '-')} {_show(before)} -> {_show(after)}")
    old_files, new_files = found.get("model", {}), expected["model"]
    changed = sorted(
        name
        for name in set(old_files) | set(new_files)
        if old_files.get(name) != new_files.get(name)
    )
    if changed:
        out.append(f"--model files ({', '.join(changed)})")
    if found.get("lines") != expected["lines"]:
        (a, b), (c, d) = found.get("lines", ["?", "?"]), expected["lines"]
        out.append(f"input lines [{a}, {b}) -> [{c}, {d}) (--start-line, --end-line)")
    elif found.get("input") != expected["input"]:
        out.append("the input's text")
    if found.get("shard") != expected["shard"]:
        out.append(f"--shard {_show(found.get('shard'))} -> {_show(expected['shard'])}")
    if found.get("processes") != expected["processes"]:
        out.append(f"processes {found.get('processes')} -> {expected['processes']}")
    return out


def _show(value) -> str:
    return "none" if value is None else str(value)


def check_identity(found: dict | None, expected: dict, what: str) -> None:
    """A one-line UsageError unless `found` (None: not saved) is `expected`."""
    if found is None:
        raise UsageError(
            f"--resume: {what} has no record of the run that wrote it ({_settings_name(what)} is "
            "missing), so it cannot be checked; start afresh without --resume"
        )
    changed = differences(found, expected)
    if changed:
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        shown = ", ".join(changed[:4]) + more
        raise UsageError(
            f"--resume: {what} was written by a run with other settings ({shown}); resume with "
            "that run's settings, or start afresh without --resume"
        )


def check_done(done: int, size: int, batch: int, what: str) -> None:
    """Lines kept from an earlier run: at most this run's `size`, and whole batches (each batch
    is seeded by its first line, so a resumed run must start where a batch did)."""
    if done > size:
        raise UsageError(f"--resume: {what} holds {done} lines, more than the {size} to translate")
    if done % batch and done != size:
        raise UsageError(
            f"--resume: {what} holds {done} lines, not whole batches of --batch-sentences "
            f"{batch}; start afresh without --resume"
        )


@dataclass
class Kept:
    """What a one-process --resume keeps: the output's lines and their --records lines (as
    written), and how many bytes of each file hold them (the rest is cut before appending)."""

    texts: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    output_bytes: int = 0
    records_bytes: int = 0


def kept_output(
    output: str, records: str | None, identity: dict, selection: range, batch: int
) -> Kept:
    """One process's --resume: the lines of `output` (and `records`) to keep, checked to be
    this run's (`identity`; the input lines `selection` to translate in batches of `batch`).

    The output and the records are written one after the other, so a kill between them leaves
    one a batch ahead of the other; both hold this run's lines (the identity), so the shorter
    of the two counts, cut back to whole batches, and each kept record must name the line and
    the text of its output line (else they are not from one run)."""
    check_other_parts(output, 1)
    texts, text_ends = _whole_text_lines(output)
    if not texts:
        return Kept()
    check_identity(read_settings(output), identity, output)
    count, kept, kept_ends = len(texts), [], []
    if records:
        if not Path(records).is_file():
            raise UsageError(
                f"--resume: {output} holds {len(texts)} lines but {records} does not exist: the "
                "run that wrote them kept no --records; resume without --records, or start "
                "afresh without --resume"
            )
        kept, kept_ends = _whole_text_lines(records)
        count = min(count, len(kept))
    size = len(selection)
    if count > size:
        raise UsageError(
            f"--resume: {output} holds {count} lines, more than the {size} to translate"
        )
    if count != size:
        count -= count % batch  # a batch is seeded by its first line: resume where one starts
    if records:
        _check_pairs(texts[:count], kept[:count], selection.start, output, records)
    if not count:
        return Kept()
    return Kept(
        texts[:count], kept[:count], text_ends[count - 1], kept_ends[count - 1] if kept else 0
    )


def _whole_text_lines(path: str) -> tuple[list[str], list[int]]:
    """The whole lines of an output being appended to (`data.files.whole_lines`), as text."""
    from textebm.data.files import whole_lines

    lines, ends = whole_lines(path)
    try:
        return [line.decode("utf-8") for line in lines], ends
    except UnicodeDecodeError:
        raise UsageError(
            f"--resume: {path} is not valid UTF-8, so not written by textebm translate; start "
            "afresh without --resume"
        ) from None


def _check_pairs(texts: list[str], records: list[str], first: int, output: str, where: str):
    """Each record names input line `first` + i and the text of output line i."""
    for i, (text, record) in enumerate(zip(texts, records, strict=True)):
        try:
            row = json.loads(record)
            same = row["line"] == first + i and output_line(row["text"]) == text
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            raise UsageError(
                f"--resume: line {i + 1} of {where} is not the record of line {i + 1} of "
                f"{output}: they are not from one run; restart without --resume"
            )


def check_other_parts(output: str, processes: int) -> None:
    """A --resume on `processes` processes refuses to pass over the parts of a run on another
    number of them (it would start afresh and drop their progress)."""
    for path in part_paths(output):
        world = part_world(path)
        if world != processes:
            raise UsageError(
                f"--resume: {path.name} holds the progress of an interrupted run on {world} "
                f"processes, not {processes}: resume it on {world} (torchrun --nproc-per-node "
                f"{world}), or delete its part files to start afresh"
            )


def finished_output(output: str, records: str | None, identity: dict, size: int) -> bool:
    """A --resume on several processes where none has a part: whether `output` (and `records`)
    hold this run's `size` lines, complete (True), or nothing (False: start afresh); anything
    else is a UsageError (a merged output is written whole or not at all)."""
    from textebm.data.files import read_lines

    texts = read_lines(output) if Path(output).is_file() else []
    if not texts:
        return False
    check_identity(read_settings(output), identity, output)
    kept = len(read_lines(records)) if records and Path(records).is_file() else 0
    if len(texts) != size or (records and kept != size):
        raise UsageError(
            f"--resume: {output} (or --records) holds fewer lines than the {size} of this run, "
            "and no process has a part file to continue; start afresh without --resume"
        )
    return True


# ---- OUT.run.json


def settings_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".run.json")


def _settings_name(output: str) -> str:
    return settings_path(output).name


def write_settings(output: str | Path, identity: dict, about: dict) -> None:
    """Save the identity of the run whose translations `output` holds (atomically), with `about`:
    facts that do not decide the output (paths, device), for people."""
    from textebm.data.files import write_json

    write_json(settings_path(output), {"identity": identity, "about": about})


def read_settings(output: str | Path) -> dict | None:
    """The saved identity beside `output`, or None when there is none (or it is unreadable)."""
    path = settings_path(output)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    identity = saved.get("identity") if isinstance(saved, dict) else None
    return identity if isinstance(identity, dict) else None


# ---- OUT.part-R-of-W.json


@dataclass
class Part:
    """One process's translations so far: output lines and their `--records` JSON lines; and
    `size`, the bytes of its part file that hold them (`read_part`)."""

    texts: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    size: int = field(default=0, compare=False)


def part_path(output: str | Path, shard: Shard) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.part-{shard.rank}-of-{shard.world}.json")


def part_paths(output: str | Path) -> list[Path]:
    """Every part file of `output` in its folder, of any number of processes."""
    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    pattern = re.compile(re.escape(output.name) + r"\.part-\d+-of-\d+\.json")
    return sorted(p for p in folder.glob(f"{output.name}.part-*.json") if pattern.fullmatch(p.name))


def part_world(path: Path) -> int:
    """The number of processes of the run whose part `path` is (W of `OUT.part-R-of-W.json`)."""
    return int(path.name.rsplit("-of-", 1)[1].removesuffix(".json"))


def write_part(path: Path, identity: dict, part: Part) -> None:
    """Start the part at `path`, atomically: one JSON line of the run's identity and the
    translations so far (`append_part` adds the next batches, a line each)."""
    from textebm.data.files import write_json

    write_json(path, {"identity": identity, "texts": part.texts, "records": part.records}, None)


def append_part(path: Path, texts: list[str], records: list[str]) -> None:
    """Add one batch to the part at `path` (started by `write_part`): a JSON line, synced."""
    from textebm.data.files import append_synced

    line = json.dumps({"texts": texts, "records": records}, allow_nan=False) + "\n"
    append_synced(path, line.encode("utf-8"))


def read_part(path: Path, identity: dict) -> Part:
    """The part at `path` (none: an empty one), checked to be this process's of this run.
    A torn last line (a kill during an append) is left out: `size` ends before it."""
    from textebm.data.files import whole_lines

    if not path.is_file():
        return Part()
    lines, ends = whole_lines(path)
    try:
        batches = [json.loads(line) for line in lines]
        found = batches[0]["identity"]
        texts = [text for batch in batches for text in batch["texts"]]
        records = [record for batch in batches for record in batch["records"]]
    except (ValueError, KeyError, TypeError, IndexError):  # IndexError: not one whole line
        raise UsageError(
            f"--resume: {path} is not a part file of textebm translate; delete it to start afresh"
        ) from None
    if len(texts) != len(records) or not all(isinstance(t, str) for t in texts + records):
        raise UsageError(f"--resume: {path} is damaged; delete it to start afresh")
    check_identity(found, identity, str(path))
    return Part(texts, records, ends[-1])
