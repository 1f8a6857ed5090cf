"""`textebm translate`: translate each line of INPUT with a conditional masked LM (mh, gibbs,
mask-predict, greedy) or an encoder-decoder (beam), one output line per input line, in order.

The flags are `TranslateConfig`'s fields; the work is `textebm.samplers.translate_lines`: this
module reads, checks and writes. On one process the output (and `--records`) is rewritten
atomically after every batch, so an interrupted run leaves a valid prefix that `--resume`
continues. Under torchrun or accelerate launch every process translates a contiguous shard of
the lines, saving its progress in a part file after every batch, and the main process writes
them all at the end; `--resume` under as many processes continues every shard. A resumed run
must have the settings of the run it continues (`translate_resume`: what is checked, and the
files beside -o).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from textebm.cli.train import add_config_arguments
from textebm.cli.translate_resume import (
    Part,
    check_done,
    check_other_parts,
    finished_output,
    kept_output,
    part_path,
    part_paths,
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
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON object of the fields below (snake_case names); flags given override it",
    )
    add_config_arguments(parser, TranslateConfig)
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
    from textebm.recipes.config import load_config

    names = {f.name for f in dataclasses.fields(TranslateConfig)}
    config = load_config(
        TranslateConfig, {k: v for k, v in vars(args).items() if k in names}, args.config
    )
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
    """One process: the output (and records) rewritten atomically after every batch."""
    from textebm.cli.common import show_progress
    from textebm.data.shards import parse_shard
    from textebm.errors import UsageError
    from textebm.samplers.translate_lines import selected_lines, translate_lines

    shard = parse_shard(config.shard) if config.shard else None
    identity = None
    if args.output != "-":
        identity = run_identity(config, lines, shard, processes=1)
    if args.resume:
        size = len(selected_lines(len(lines), config, shard))
        texts, records = kept_output(
            args.output, args.records, identity, size, config.batch_sentences
        )
    else:
        texts, records = [], []
    writer = _Writer(args, config, lines, identity, texts, records)
    done = translate_lines(
        config,
        lines,
        shard=shard,
        done=len(texts),
        on_batch=writer.add,
        progress=show_progress(len(lines), threshold=2),
        name=args.input,
    )
    if not done and not texts:
        raise UsageError("no lines to translate in this selection")
    if not done:
        print(f"textebm translate: {args.output} is complete already", file=sys.stderr)
    _summary(done)
    return 0


class _Writer:
    """Writes one process's translations as they come: stdout appended; a file (and --records)
    rewritten atomically after every batch. The first write of a run that keeps no earlier
    lines first removes the old output, records and part files, then saves this run's identity
    beside the output: an interrupted run never pairs old lines with a new identity, and until
    its first batch is done the previous output stays as it was."""

    def __init__(self, args, config, lines, identity, texts, records) -> None:
        self.args, self.config, self.lines, self.identity = args, config, lines, identity
        self.texts, self.records = list(texts), list(records)
        self.claimed = bool(texts)  # the saved identity is this run's already (checked)

    def add(self, batch) -> None:
        from textebm.data.files import atomic_write

        args = self.args
        new_texts = [t.text for t in batch]
        self.texts.extend(new_texts)
        self.records.extend(_records(batch, self.lines))
        if args.output == "-":
            sys.stdout.write("".join(text + "\n" for text in new_texts))
            sys.stdout.flush()
        else:
            if not self.claimed:
                self._claim()
            with atomic_write(args.output) as out:
                out.writelines(text + "\n" for text in self.texts)
        if args.records:
            with atomic_write(args.records) as out:
                out.writelines(record + "\n" for record in self.records)

    def _claim(self) -> None:
        for path in [Path(p) for p in (self.args.records, self.args.output) if p]:
            path.unlink(missing_ok=True)
        for path in part_paths(self.args.output):
            path.unlink(missing_ok=True)
        write_settings(self.args.output, self.identity, _about(self.args, self.config))
        self.claimed = True


def _run_across_to_stdout(args, config, lines, processes) -> None:
    """Several processes, output to stdout: nothing to resume, rank 0 writes at the end."""
    from textebm.data.files import atomic_write
    from textebm.samplers.translate_lines import translate_across

    done = translate_across(config, lines, processes, name=args.input)
    if done is None:
        return
    sys.stdout.write("".join(t.text + "\n" for t in done))
    sys.stdout.flush()
    if args.records:
        with atomic_write(args.records) as out:
            out.writelines(record + "\n" for record in _records(done, lines))
    _summary(done)


def _run_across(args, config, lines, processes) -> None:
    """Several processes, output to a file: each saves its part after every batch; rank 0 merges
    the parts (gathered through the process group) in rank order at the end.

    A --resume continues every process's part, or, where no process has one, finds the output
    complete. Every process takes the same decision: a problem found on any one (a part of
    another run) stops them all with its message."""
    from textebm.data.files import atomic_write
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
        else:
            path.unlink(missing_ok=True)  # a stale part of an earlier run must not be resumed
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

    def save(batch) -> None:
        part.texts.extend(t.text for t in batch)
        part.records.extend(_records(batch, lines))
        write_part(path, identity, part)

    translator = load_translator(config)
    new = translate_lines(
        config, lines, translator, shard=shard, done=len(part.texts), on_batch=save, name=args.input
    )
    parts = processes.gather([(part.texts, part.records, new)])
    if processes.is_main:
        settings_path(args.output).unlink(missing_ok=True)  # until OUT is whole again
        with atomic_write(args.output) as out:
            out.writelines(text + "\n" for texts, _, _ in parts for text in texts)
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
