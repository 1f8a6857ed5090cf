"""Minimal-pair evaluation: does the energy prefer each good sentence to its bad twin?

Input is JSON Lines, one pair a line, with the field names of BLiMP and the common minimal-pair
suites: {"sentence_good": ..., "sentence_bad": ..., "UID": ...}. A pair is right when the good
sentence has the lower energy; a tie counts half, so chance is 0.5. Pairs whose two sentences are
the same string are skipped (they say nothing) and counted.

Groups: a named group field must be on every line. By default BLiMP's `UID` is used when the
first pair has one (then every line must), and there are no groups otherwise; "" turns them off.

The report folder holds pairs.jsonl (one record per scored pair), summary.json and accuracy.png.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textebm.errors import UsageError
from textebm.eval.figures import png_bytes, pyplot_figure
from textebm.eval.pairwise import outcome, tally

DEFAULT_GROUP_FIELD = "UID"
FILES = ("pairs.jsonl", "summary.json", "accuracy.png")


@dataclass
class PairsConfig:
    """What `textebm eval pairs` runs; the command line is built from the same fields."""

    input: str = field(metadata={"help": "JSON Lines of pairs (.gz read transparently), or -"})
    model: str = field(metadata={"help": "hub id or local folder of the model"})
    output: str = field(metadata={"help": "report folder (made, or replaced if a report)"})
    energy: str = field(default="norm", metadata={"help": "an --energy name of `textebm score`"})
    whole_word: bool = field(default=False, metadata={"help": "whole-word masking (masked LMs)"})
    good_field: str = field(default="sentence_good", metadata={"help": "field of the good one"})
    bad_field: str = field(default="sentence_bad", metadata={"help": "field of the bad one"})
    group_field: str | None = field(
        default=None,
        metadata={"help": "field to group by; default UID when the lines have it, '' for none"},
    )
    batch_tokens: int = field(default=8192, metadata={"help": "token budget of one pass"})
    device: str | None = field(default=None, metadata={"help": "e.g. cpu, cuda:0"})


@dataclass
class Pair:
    """One scorable pair and where it came from (1-based line number)."""

    line: int
    good: str
    bad: str
    group: str | None = None


@dataclass
class PairSet:
    """Pairs read from a file: those to score, the line numbers of the identical ones skipped,
    and the group field in use (None: no groups)."""

    pairs: list[Pair]
    skipped: list[Pair]
    group_field: str | None


def read_pairs(
    path: str,
    good_field: str = "sentence_good",
    bad_field: str = "sentence_bad",
    group_field: str | None = None,
) -> PairSet:
    """Parse a JSON Lines file of minimal pairs; every problem is a UsageError naming its line."""
    from textebm.data.files import read_lines

    lines = read_lines(path)
    if group_field is None:  # BLiMP's UID when the file has it, else no groups
        group_field = _default_group(lines)
    group_field = group_field or None
    pairs, skipped = [], []
    for number, line in enumerate(lines, start=1):
        where = f"{path}: line {number}"
        if not line.strip():
            raise UsageError(f"{where} is empty; give one JSON object a line")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{where} is not valid JSON: {error.msg} (column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise UsageError(f"{where} is not a JSON object")
        good = _sentence(record, good_field, "--good-field", where)
        bad = _sentence(record, bad_field, "--bad-field", where)
        group = _group(record, group_field, where) if group_field else None
        pair = Pair(number, good, bad, group)
        (skipped if good == bad else pairs).append(pair)
    if not lines:
        raise UsageError(f"{path}: no pairs to score")
    return PairSet(pairs, skipped, group_field)


def _default_group(lines: list[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return ""  # read_pairs reports the bad line
    return DEFAULT_GROUP_FIELD if isinstance(record, dict) and DEFAULT_GROUP_FIELD in record else ""


def _sentence(record: dict, name: str, flag: str, where: str) -> str:
    if name not in record:
        raise UsageError(f"{where} has no field {name!r}; name the field with {flag}")
    value = record[name]
    if not isinstance(value, str):
        raise UsageError(f"{where}: field {name!r} is not a string")
    if not value.strip():
        raise UsageError(f"{where}: field {name!r} is an empty sentence")
    return value


def _group(record: dict, name: str, where: str) -> str:
    if name not in record:
        raise UsageError(f"{where} has no group field {name!r}; pass --group-field '' for none")
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UsageError(f"{where}: group field {name!r} is not a string or an integer")
    return str(value)


def score_pairs(energy: Any, pairs: list[Pair], source: str = "input", progress: bool = False):
    """One record per pair: both energies, difference = E(bad) - E(good) (positive: the good one
    is preferred), correct (strictly lower), tie, token and [UNK] counts.

    energy: anything with `score_texts` (see textebm.energies.registry). All sentences go through
    it in one call, so that sentences of similar length share forward passes.
    """
    from textebm.energies import SequenceError

    texts = [pair.good for pair in pairs] + [pair.bad for pair in pairs]
    try:
        scored = energy.score_texts(texts, progress=progress)
    except SequenceError as error:
        pair = pairs[error.index % len(pairs)]
        which = "good" if error.index < len(pairs) else "bad"
        raise UsageError(f"{source}: line {pair.line}: {which} sentence: {error}") from None
    records = []
    for pair, good, bad in zip(pairs, scored[: len(pairs)], scored[len(pairs) :], strict=True):
        if not (math.isfinite(good.energy) and math.isfinite(bad.energy)):
            raise UsageError(f"{source}: line {pair.line}: energy is not finite")
        record: dict[str, Any] = {"line": pair.line}
        if pair.group is not None:
            record["group"] = pair.group
        score = outcome(good.energy, bad.energy)
        record.update(
            good=pair.good,
            bad=pair.bad,
            energy_good=good.energy,
            energy_bad=bad.energy,
            difference=bad.energy - good.energy,
            correct=score == 1.0,
            tie=score == 0.5,
            n_tokens_good=good.n_tokens,
            n_tokens_bad=bad.n_tokens,
            n_unk=good.n_unk + bad.n_unk,
        )
        records.append(record)
    return records


def summarize(records: list[dict], skipped: list[Pair]) -> dict:
    """Accuracy (ties half), counts, and the same per group (sorted by name) with the macro mean
    over groups (BLiMP's headline figure when groups differ in size)."""

    def score(record: dict) -> float:
        return 0.5 if record["tie"] else float(record["correct"])

    summary = tally(score(record) for record in records)
    summary["skipped_identical"] = len(skipped)
    summary["skipped_lines"] = [pair.line for pair in skipped]
    groups = sorted(
        {r["group"] for r in records if "group" in r} | {p.group for p in skipped} - {None}
    )
    if groups:
        per_group = {}
        for name in groups:
            counts = tally(score(r) for r in records if r.get("group") == name)
            counts["skipped_identical"] = sum(1 for p in skipped if p.group == name)
            per_group[name] = counts
        scored = [g["accuracy"] for g in per_group.values() if g["accuracy"] is not None]
        summary["macro_accuracy"] = sum(scored) / len(scored) if scored else None
        summary["groups"] = per_group
    unknown = [r["n_unk"] for r in records]
    summary["pairs_with_unk"] = sum(1 for n in unknown if n)
    summary["n_unk"] = sum(unknown)
    return summary


def accuracy_png(summary: dict, title: str = "") -> bytes:
    """Horizontal bars of accuracy per group (one bar, "all", without groups), chance (0.5)
    dashed and the overall accuracy as a black line. Returns PNG bytes."""
    groups = summary.get("groups") or {"all": summary}
    names = [name for name, counts in groups.items() if counts["accuracy"] is not None]
    values = [groups[name]["accuracy"] for name in names]
    height = max(2.5, 1.5 + 0.25 * len(names))  # BLiMP's 67 groups stay legible
    with pyplot_figure(figsize=(7, height), dpi=100) as (figure, axes):
        positions = range(len(names))
        axes.barh(positions, values, color="tab:blue", alpha=0.8)
        axes.set_yticks(list(positions), [f"{n} ({groups[n]['pairs']})" for n in names])
        axes.invert_yaxis()  # first group on top, as in summary.json
        axes.axvline(0.5, color="grey", linestyle="--", label="chance")
        axes.axvline(summary["accuracy"], color="black", label=f"all: {summary['accuracy']:.3f}")
        axes.set_xlim(0, 1)
        axes.set_xlabel("accuracy (E(good) < E(bad); ties count half)")
        axes.set_title(title)
        axes.legend(loc="lower right")
        return png_bytes(figure)


def check_report_folder(output: str | Path, inputs: tuple[str, ...] = ()) -> None:
    """Refuse a report folder that cannot be written or whose replacement would lose data: it
    must be new, empty, or an earlier report, and must not hold an input."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"report folder {output} is a file; give a folder name")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"folder is not writable: {parent}")
    if not output.is_dir():
        return
    for source in inputs:
        if source != "-" and output.resolve() in Path(source).resolve().parents:
            raise UsageError(f"input {source} is inside the report folder {output}")
    others = sorted(p.name for p in output.iterdir() if p.name not in FILES)
    if others:
        raise UsageError(
            f"{output} holds other files ({others[0]}, ...); give a new or empty folder"
        )


def run_pairs(config: PairsConfig, progress: bool = False) -> dict:
    """Read, score and report; write config.output atomically and return the summary."""
    from textebm.data.files import write_json
    from textebm.data.folders import atomic_folder
    from textebm.energies.registry import build_energy, check_energy

    if config.batch_tokens < 1:
        raise UsageError(f"--batch-tokens must be positive, not {config.batch_tokens}")
    check_energy(config.energy, config.whole_word)
    check_report_folder(config.output, inputs=(config.input,))
    pair_set = read_pairs(config.input, config.good_field, config.bad_field, config.group_field)
    if not pair_set.pairs:
        raise UsageError(
            f"{config.input}: all {len(pair_set.skipped)} pairs are identical; nothing to score"
        )
    energy = build_energy(
        config.energy,
        config.model,
        device=config.device,
        whole_word=config.whole_word,
        batch_tokens=config.batch_tokens,
    )
    progress = progress and len(pair_set.pairs) >= 32  # a bar only where a wait is likely
    records = score_pairs(energy, pair_set.pairs, config.input, progress=progress)
    summary = summarize(records, pair_set.skipped)
    summary["settings"] = {**asdict(config), "group_field": pair_set.group_field}
    title = f"{Path(config.input).name}: --energy {config.energy}, {Path(config.model).name}"
    png = accuracy_png(summary, title)
    with atomic_folder(config.output) as folder:
        with open(folder / "pairs.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        write_json(folder / "summary.json", summary)
        (folder / "accuracy.png").write_bytes(png)
    return summary
