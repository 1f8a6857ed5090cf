"""What an interrupted `textebm translate` leaves behind; how `--resume` checks and continues it.

A run's identity is what decides its output (`run_identity`): every decoding field of
`TranslateConfig` (not --device or --batch-tokens, which decide where and in what chunks the same
passes run), the model folder's file contents, the selected input lines' contents and their range,
the shard and the number of processes (a W-process run's batches start at other lines than a
one-process run's, so their outputs differ). It is a small JSON dict; `--resume` compares it with
the one saved by the run that wrote the partial output and refuses a mismatch, naming the fields.

Files beside `-o OUT`:
- `OUT.run.json`: the identity of the run whose translations OUT holds. One process rewrites OUT
  atomically after every batch; its first write removes the old OUT (and records) before it saves
  the new identity, so that at no moment is an old OUT paired with a new identity.
- `OUT.part-R-of-W.json` (several processes): process R's translations and records so far with
  its identity, in one file rewritten atomically after each of its batches, so a part is always
  whole and its own. At the end rank 0 gathers every part (through the process group, not the
  file system, which need not be shared), writes OUT, records and OUT.run.json, and the parts go.
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
# fields of the identity kept apart from "settings": the model by its files, the line range as
# the lines actually selected, the shard as the run's
_APART = ("model", "start_line", "end_line", "shard")


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


def kept_output(
    output: str, records: str | None, identity: dict, size: int, batch: int
) -> tuple[list[str], list[str]]:
    """One process's --resume: the lines of `output` (and `records`) to keep, checked to be
    this run's (`identity`; `size` lines to translate in batches of `batch`)."""
    from textebm.data.files import read_lines

    check_other_parts(output, 1)
    texts = read_lines(output) if Path(output).is_file() else []
    kept: list[str] = []
    if records:
        kept = read_lines(records) if Path(records).is_file() else []
        if len(kept) != len(texts):
            raise UsageError(
                f"--resume: {output} holds {len(texts)} lines but {records} {len(kept)}: they "
                "are not from one run; restart without --resume"
            )
    if texts:
        check_identity(read_settings(output), identity, output)
        check_done(len(texts), size, batch, output)
    return texts, kept


def check_other_parts(output: str, processes: int) -> None:
    """A --resume on `processes` processes refuses to pass over the parts of a run on another
    number of them (it would start afresh and drop their progress)."""
    for path in part_paths(output):
        world = int(path.name.rsplit("-of-", 1)[1].removesuffix(".json"))
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
    """One process's translations so far: output lines and their `--records` JSON lines."""

    texts: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)


def part_path(output: str | Path, shard: Shard) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.part-{shard.rank}-of-{shard.world}.json")


def part_paths(output: str | Path) -> list[Path]:
    """Every part file of `output` in its folder, of any number of processes."""
    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    pattern = re.compile(re.escape(output.name) + r"\.part-\d+-of-\d+\.json")
    return sorted(p for p in folder.glob(f"{output.name}.part-*.json") if pattern.fullmatch(p.name))


def write_part(path: Path, identity: dict, part: Part) -> None:
    from textebm.data.files import write_json

    write_json(path, {"identity": identity, "texts": part.texts, "records": part.records}, None)


def read_part(path: Path, identity: dict) -> Part:
    """The part at `path` (none: an empty one), checked to be this process's of this run."""
    if not path.is_file():
        return Part()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        part = Part(list(saved["texts"]), list(saved["records"]))
        found = saved["identity"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"--resume: {path} is not a part file of textebm translate; delete it to start afresh"
        ) from None
    if len(part.texts) != len(part.records):
        raise UsageError(f"--resume: {path} is damaged; delete it to start afresh")
    check_identity(found, identity, str(path))
    return part
