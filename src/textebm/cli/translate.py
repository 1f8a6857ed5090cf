"""`textebm translate`: translate each line of INPUT with a conditional masked LM (mh, gibbs,
mask-predict, greedy) or an encoder-decoder (beam), one output line per input line, in order.

The flags are `TranslateConfig`'s fields; the work is `textebm.samplers.translate_lines`: this
module reads, checks and writes. On one process every batch is appended to the output (and
`--records`) and synced to disk, so an interrupted run leaves whole batches (and at most a torn
one, which `--resume` cuts off) that `--resume` continues; writing costs the batch, not the
file so far. Under torchrun or accelerate launch every process translates a contiguous shard of
the lines, appending its progress to a part file after every batch, and the main process writes
them all at the end; `--resume` under as many processes continues every shard. A resumed run
must have the settings of the run it continues (`translate_resume`: what is checked, and the
files beside -o). A line break inside a translation is written as a space (`output_line`):
OUT holds one line per input line, whatever the tokenizer decodes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from textebm.cli.train import add_config_file_and_arguments, config_from_args
from textebm.cli.translate_resume import (
    Kept,
    Part,
    append_part,
    check_done,
    check_other_parts,
    finished_output,
    kept_output,
    output_line,
    part_path,
    part_paths,
    part_world,
    read_part,
    run_identity,
    settings_path,
    write_part,
    write_settings,
)
from textebm.samplers.translate_config import TranslateConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate",
        help="translate sentences with a conditional masked LM (MH, Gibbs, Mask-Predict) or an "
        "encoder-decoder (beam search)",
        description="Translate each line of INPUT and write one line per input line, in order. "
        "A CMLM decodes the --length-beam most probable target lengths from a greedy warm start "
        "and keeps the candidate with the lowest energy per target token (mh, gibbs) or the "
        "highest mean log-probability (mask-predict, greedy). --records writes per line "
        '{"line", "source", "text", "length", "passes", "seconds", ...}.',
    )
    parser.add_argument(
        "input", help="source sentences, one a line (.gz read transparently), or - for stdin"
    )
    add_config_file_and_arguments(parser, TranslateConfig)
    parser.add_argument("-o", "--output", default="-", help="translations (default: stdout)")
    parser.add_argument(
        "--records", metavar="FILE", help="also write one JSON record per line to FILE (.jsonl)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep the lines already translated (in -o and "
        "--records, or in the part files of a run on several processes) and translate the rest; "
        "refused, naming the differences, unless the run has the same settings, model, input "
        "lines and number of processes (--device and --batch-tokens may change)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from textebm.cli.common import quiet_libraries
    from textebm.data.files import check_output, read_lines
    from textebm.data.shards import Processes
    from textebm.errors import UsageError

    config = config_from_args(args, TranslateConfig)
    outputs = [args.output] + ([args.records] if args.records else [])
    if args.records == "-" or (args.records and args.records == args.output):
        raise UsageError("--records needs a file of its own, not - or the -o file")
    if args.output != "-":
        outputs.append(str(settings_path(args.output)))
        if args.records and Path(args.records) == settings_path(args.output):
            raise UsageError(f"--records {args.records} is where the run's settings are kept")
    for path in outputs:  # before the work, not after it
        check_output(path, inputs=(args.input,))
    if args.resume and args.output == "-":
        raise UsageError("--resume continues an output file: give -o FILE")
    lines = read_lines(args.input)
    if not lines:
        raise UsageError(f"{args.input}: no sentences to translate")
    quiet_libraries()
    processes = Processes(cpu=config.device == "cpu" or not torch.accelerator.is_available())
    if processes.world == 1:
        return _run_alone(args, config, lines)
    if config.shard:
        raise UsageError(
            f"--shard is for one process; under torchrun or accelerate launch ({processes.world} "
            "processes) each process takes its shard: drop --shard"
        )
    if config.device is None:
        config = dataclasses.replace(config, device=str(processes.device))
    if args.output == "-":
        _run_across_to_stdout(args, config, lines, processes)
    else:
        _run_across(args, config, lines, processes)
    processes.wait()
    return 0


def _run_alone(args: argparse.Namespace, config: TranslateConfig, lines: list[str]) -> int:
    """One process: each batch appended to the output (and records) as it is done."""
    from textebm.cli.common import show_progress
    from textebm.data.shards import parse_shard
    from textebm.errors import UsageError
    from textebm.samplers.translate_lines import selected_lines, translate_lines

    shard = parse_shard(config.shard) if config.shard else None
    identity = None
    if args.output != "-":
        identity = run_identity(config, lines, shard, processes=1)
    kept = Kept()
    if args.resume:
        selection = selected_lines(len(lines), config, shard)
        kept = kept_output(args.output, args.records, identity, selection, config.batch_sentences)
    writer = _Writer(args, config, lines, identity, kept)
    done = translate_lines(
        config,
        lines,
        shard=shard,
        done=len(kept.texts),
        on_batch=writer.add,
        progress=show_progress(len(lines), threshold=2),
        name=args.input,
    )
    if not done and not kept.texts:
        raise UsageError("no lines to translate in this selection")
    if not done:
        print(f"textebm translate: {args.output} is complete already", file=sys.stderr)
    _summary(done)
    return 0


class _Writer:
    """Writes one process's translations as they come, each batch appended (flushed and synced)
    to the output (stdout, or a file) and to --records: a kill leaves whole batches and at most
    one torn batch at the end of each file, which --resume cuts off (`kept_output`).

    The first write of a run that keeps no earlier lines first removes the old output, records
    and part files, then saves this run's identity beside the output: an interrupted run never
    pairs old lines with a new identity, and until its first batch is done the previous output
    stays as it was. A resumed run first cuts both files back to the lines it keeps."""

    def __init__(self, args, config, lines, identity, kept: Kept) -> None:
        from textebm.data.files import cut_back

        self.args, self.config, self.lines, self.identity = args, config, lines, identity
        self.started = bool(kept.texts)  # the saved identity is this run's already (checked)
        if self.started:
            cut_back(args.output, kept.output_bytes)
            if args.records:
                cut_back(args.records, kept.records_bytes)

    def add(self, batch) -> None:
        from textebm.data.files import append_synced

        args = self.args
        text = "".join(output_line(t.text) + "\n" for t in batch)
        if not self.started:
            self._start()
        if args.output == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            append_synced(args.output, text.encode("utf-8"))
        if args.records:
            records = "".join(record + "\n" for record in _records(batch, self.lines))
            append_synced(args.records, records.encode("utf-8"))

    def _start(self) -> None:
        """Before the first batch of a run that keeps nothing: the files start empty."""
        args = self.args
        if args.output != "-":
            for path in [Path(p) for p in (args.records, args.output) if p]:
                path.unlink(missing_ok=True)
            for path in part_paths(args.output):
                path.unlink(missing_ok=True)
            write_settings(args.output, self.identity, _about(args, self.config))
        elif args.records:
            Path(args.records).unlink(missing_ok=True)
        self.started = True


def _run_across_to_stdout(args, config, lines, processes) -> None:
    """Several processes, output to stdout: nothing to resume, rank 0 writes at the end."""
    from textebm.data.files import atomic_write
    from textebm.samplers.translate_lines import translate_across

    done = translate_across(config, lines, processes, name=args.input)
    if done is None:
        return
    sys.stdout.write("".join(output_line(t.text) + "\n" for t in done))
    sys.stdout.flush()
    if args.records:
        with atomic_write(args.records) as out:
            out.writelines(record + "\n" for record in _records(done, lines))
    _summary(done)


def _run_across(args, config, lines, processes) -> None:
    """Several processes, output to a file: each appends every batch to its part file; rank 0
    merges the parts (gathered through the process group) in rank order at the end.

    A --resume continues every process's part, or, where no process has one, finds the output
    complete. Every process takes the same decision: a problem found on any one (a part of
    another run) stops them all with its message."""
    from textebm.data.files import atomic_write, cut_back
    from textebm.errors import UsageError
    from textebm.samplers.translate import load_translator
    from textebm.samplers.translate_lines import selected_lines, translate_lines

    shard = processes.shard
    mine = selected_lines(len(lines), config, shard)
    identity = run_identity(config, lines, shard, processes=processes.world)
    whole = {**identity, "shard": None}  # the identity of the merged output
    path = part_path(args.output, shard)
    part, problem, finished = Part(), None, None
    try:
        if args.resume:
            part = read_part(path, identity)
            check_done(len(part.texts), len(mine), config.batch_sentences, str(path))
            if processes.is_main:
                check_other_parts(args.output, processes.world)
                size = len(selected_lines(len(lines), config))
                try:
                    finished = finished_output(args.output, args.records, whole, size)
                except UsageError as error:  # judged below, only if no process has a part
                    finished = str(error)
        else:  # the parts of an earlier run must not be resumed, nor block a later --resume
            path.unlink(missing_ok=True)
            if processes.is_main:  # those of a run on another number of processes: rank 0's
                for stale in part_paths(args.output):
                    if part_world(stale) != processes.world:
                        stale.unlink(missing_ok=True)
    except UsageError as error:
        problem = str(error)
    found = bool(part.texts) or path.is_file()
    reports = processes.gather([(problem, found, finished)])
    problems = [problem for problem, _, _ in reports if problem is not None]
    if problems:
        raise UsageError(problems[0])
    if args.resume and not any(found for _, found, _ in reports):
        verdict = reports[0][2]  # rank 0's reading of the output
        if isinstance(verdict, str):
            raise UsageError(verdict)
        if verdict:
            if processes.is_main:
                print(f"textebm translate: {args.output} is complete already", file=sys.stderr)
            return
    if part.texts:
        cut_back(path, part.size)  # a batch torn by a kill goes before the next is appended

    def save(batch) -> None:
        texts, records = [t.text for t in batch], _records(batch, lines)
        if part.texts:
            append_part(path, texts, records)
        else:
            write_part(path, identity, Part(texts, records))
        part.texts.extend(texts)
        part.records.extend(records)

    translator = load_translator(config)
    new = translate_lines(
        config, lines, translator, shard=shard, done=len(part.texts), on_batch=save, name=args.input
    )
    parts = processes.gather([(part.texts, part.records, new)])
    if processes.is_main:
        settings_path(args.output).unlink(missing_ok=True)  # until OUT is whole again
        with atomic_write(args.output) as out:
            out.writelines(output_line(text) + "\n" for texts, _, _ in parts for text in texts)
        if args.records:
            with atomic_write(args.records) as out:
                out.writelines(record + "\n" for _, records, _ in parts for record in records)
        write_settings(args.output, whole, _about(args, config))
        _summary([t for _, _, done in parts for t in done])
    processes.wait()  # the merged output is written: the parts can go
    path.unlink(missing_ok=True)
    if processes.is_main:
        for stale in part_paths(args.output):
            stale.unlink(missing_ok=True)


def _records(batch, lines: list[str]) -> list[str]:
    """The --records JSON lines of a batch of translations."""
    return [json.dumps(t.record(lines[t.line]), allow_nan=False) for t in batch]


def _about(args, config: TranslateConfig) -> dict:
    """Facts beside a run's identity that do not decide its output."""
    from textebm import __version__

    return {
        "model": config.model,
        "input": args.input,
        "device": config.device,
        "batch_tokens": config.batch_tokens,
        "textebm": __version__,
    }


def _summary(done) -> None:
    if not done:
        return
    passes = sum(t.passes for t in done) / len(done)
    seconds = sum(t.seconds for t in done) / len(done)
    print(
        f"textebm translate: {len(done)} lines, {passes:.1f} model passes and {seconds:.3f} s "
        "per line",
        file=sys.stderr,
    )
