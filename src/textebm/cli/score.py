"""`textebm score`: energies of sentences under a masked or causal LM, an Electric model or a
classifier, as JSON Lines.

Runs on one process, or sharded over many when started by `accelerate launch` or `torchrun`; the
output is the same either way: one record per input line, in input order.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from textebm.energies.registry import ENERGIES, energy_help

    parser = subparsers.add_parser(
        "score",
        help="score sentences with an LM's, an Electric model's or a classifier's energy",
        description="Score each line of INPUT with an LM's energy (lower = more probable) "
        'and write JSON Lines: {"text", "energy", "n_tokens", "n_unk", "tokens", '
        '"token_energies"}; n_unk counts the unknown tokens ([UNK]), which are scored like any '
        "other.",
    )
    parser.add_argument(
        "input",
        help="text file, one sentence a line (.gz read transparently), or - for standard input",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="hub id or local folder of a masked LM (of a causal LM for --energy clm, of an "
        "Electric model for electric, of a classifier for scalar, hidden and sharp-hidden)",
    )
    parser.add_argument(
        "--energy",
        choices=list(ENERGIES),
        default="norm",
        help=energy_help(),
    )
    parser.add_argument(
        "--whole-word",
        action="store_true",
        help="also mask the later sub-words of a scored token's word",
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="divide energies by T")
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=8192,
        help="token budget of one forward pass; bounds memory (default 8192)",
    )
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="cut sentences longer than the model's maximum instead of failing",
    )
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: best one)")
    parser.add_argument("-o", "--output", default="-", help="output .jsonl (default: stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, show_progress
    from textebm.data.files import atomic_write, check_output, read_sentences
    from textebm.data.shards import Processes, strided
    from textebm.energies import SequenceError
    from textebm.energies.registry import build_energy, check_energy
    from textebm.errors import UsageError
    from textebm.models.loading import pick_device

    if args.batch_tokens < 1:
        raise UsageError(f"--batch-tokens must be positive, not {args.batch_tokens}")
    if not 0 < args.temperature < math.inf:
        raise UsageError(f"--temperature must be positive and finite, not {args.temperature}")
    check_energy(args.energy, args.whole_word)
    check_output(args.output, inputs=(args.input,))  # before the work, not after it
    texts = read_sentences(args.input)
    quiet_libraries()
    processes = Processes(cpu=args.device == "cpu")
    device = pick_device(args.device) if args.device else processes.device
    energy = build_energy(
        args.energy,
        args.model,
        device=device,
        whole_word=args.whole_word,
        temperature=args.temperature,
        batch_tokens=args.batch_tokens,
    )
    try:  # every process checks every line, so that all of them fail alike on bad input
        energy.encode(texts, truncate=args.truncate)
    except SequenceError as error:
        hint = "; pass --truncate to cut long sentences" if "maximum" in str(error) else ""
        raise UsageError(f"{args.input}: line {error.index + 1}: {error}{hint}") from None

    # Strided shards balance lengths across processes better than contiguous blocks.
    mine = strided(len(texts), processes.rank, processes.world)
    progress = show_progress(len(texts), main_process=processes.is_main)
    scored = energy.score_texts([texts[i] for i in mine], truncate=args.truncate, progress=progress)
    records = sorted(processes.gather(list(zip(mine, scored, strict=True))), key=lambda x: x[0])
    if processes.is_main:
        lines = [_record(item, args, number) for number, item in records]
        with atomic_write(args.output) as out:
            out.writelines(lines)
        _report_unknown(item for _, item in records)
    processes.wait()
    return 0


def _record(item, args: argparse.Namespace, index: int) -> str:
    """One JSON line; a non-finite energy (an extreme --temperature) is a one-line error, since
    NaN and Infinity are not JSON and other tools reject them or turn them into 1.8e308."""
    from textebm.errors import UsageError

    energies = [item.energy, *item.token_energies]
    if not all(math.isfinite(value) for value in energies):
        raise UsageError(
            f"{args.input}: line {index + 1}: energy is not finite at --temperature "
            f"{args.temperature}; use a temperature nearer 1"
        )
    record = {
        "text": item.text,
        "energy": item.energy,
        "n_tokens": item.n_tokens,
        "n_unk": item.n_unk,
        "tokens": item.tokens,
        "token_energies": item.token_energies,
    }
    if item.truncated:
        record.update(truncated=True, scored_text=item.scored_text)
    return json.dumps(record, allow_nan=False) + "\n"


def _report_unknown(items) -> None:
    """One summary line on stderr when any line held words the tokenizer does not know."""
    counts = [item.n_unk for item in items]
    if sum(counts):
        lines = sum(1 for count in counts if count)
        print(
            f"textebm score: note: {lines} of {len(counts)} lines hold tokens unknown to the "
            f"tokenizer ({sum(counts)} [UNK] in all), scored as [UNK]",
            file=sys.stderr,
        )
