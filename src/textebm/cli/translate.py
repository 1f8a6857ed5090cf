"""`textebm translate`: translate each line of INPUT with a conditional masked LM (mh, gibbs,
mask-predict, greedy) or an encoder-decoder (beam), one output line per input line, in order.

The flags are `TranslateConfig`'s fields; the work is `textebm.samplers.translate_lines`: this
module reads, checks and writes. On one process the output (and `--records`) is rewritten
atomically after every batch, so an interrupted run leaves a valid prefix that `--resume`
continues; under torchrun or accelerate launch every process translates a contiguous shard of
the lines and the main process writes them all at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from textebm.cli.train import add_config_arguments
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
        help="continue an interrupted run: keep the lines already in -o (and --records) and "
        "translate the rest with the same settings; one process only",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.data.files import check_output, read_lines
    from textebm.data.shards import Processes, parse_shard
    from textebm.errors import UsageError
    from textebm.recipes.config import load_config
    from textebm.samplers.translate_lines import translate_across, translate_lines

    names = {f.name for f in dataclasses.fields(TranslateConfig)}
    config = load_config(
        TranslateConfig, {k: v for k, v in vars(args).items() if k in names}, args.config
    )
    outputs = [args.output] + ([args.records] if args.records else [])
    if args.records == "-" or (args.records and args.records == args.output):
        raise UsageError("--records needs a file of its own, not - or the -o file")
    for path in outputs:  # before the work, not after it
        check_output(path, inputs=(args.input,))
    if args.resume and args.output == "-":
        raise UsageError("--resume continues an output file: give -o FILE")
    lines = read_lines(args.input)
    if not lines:
        raise UsageError(f"{args.input}: no sentences to translate")
    quiet_libraries()
    processes = Processes(cpu=config.device == "cpu" or not torch.accelerator.is_available())
    if processes.world > 1:
        for flag, given in (("--shard", config.shard), ("--resume", args.resume)):
            if given:
                raise UsageError(
                    f"{flag} is for one process; under torchrun or accelerate launch "
                    f"({processes.world} processes) each process takes its shard: drop {flag}"
                )
        done = translate_across(config, lines, processes, name=args.input)
        if done is not None:
            _write(args, lines, done, [], [])
            _summary(done)
        processes.wait()
        return 0
    shard = parse_shard(config.shard) if config.shard else None
    texts, records = _resumed(args) if args.resume else ([], [])
    written_texts, written_records = list(texts), list(records)

    def write(batch) -> None:
        _write(args, lines, batch, written_texts, written_records)

    progress = show_progress(len(lines), threshold=2)
    done = translate_lines(
        config,
        lines,
        shard=shard,
        done=len(texts),
        on_batch=write,
        progress=progress,
        name=args.input,
    )
    if not done and not texts:
        raise UsageError("no lines to translate in this selection")
    if not done:
        print(f"textebm translate: {args.output} is complete already", file=sys.stderr)
    _summary(done)
    return 0


def _resumed(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The lines of an earlier run's output (and records) to keep; they must agree in number."""
    from textebm.data.files import read_lines
    from textebm.errors import UsageError

    output = Path(args.output)
    texts = read_lines(output) if output.is_file() else []
    records: list[str] = []
    if args.records:
        path = Path(args.records)
        records = read_lines(path) if path.is_file() else []
        if len(records) != len(texts):
            raise UsageError(
                f"--resume: {args.output} holds {len(texts)} lines but {args.records} "
                f"{len(records)}: they are not from one run; restart without --resume"
            )
    return texts, records


def _write(args, lines, batch, texts: list[str], records: list[str]) -> None:
    """Add `batch` to what is written and rewrite the outputs atomically (stdout: append)."""
    from textebm.data.files import atomic_write

    new_texts = [t.text for t in batch]
    new_records = [json.dumps(t.record(lines[t.line]), allow_nan=False) for t in batch]
    if args.output == "-":
        sys.stdout.write("".join(text + "\n" for text in new_texts))
        sys.stdout.flush()
    texts.extend(new_texts)
    records.extend(new_records)
    if args.output != "-":
        with atomic_write(args.output) as out:
            out.writelines(text + "\n" for text in texts)
    if args.records:
        with atomic_write(args.records) as out:
            out.writelines(record + "\n" for record in records)


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
