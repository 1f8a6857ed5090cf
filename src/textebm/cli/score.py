"""`textebm score`: energies of sentences under a masked LM, as JSON Lines.

Runs on one process, or sharded over many when started by `accelerate launch` or `torchrun`; the
output is the same either way: one record per input line, in input order.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score sentences with a masked-LM energy",
        description="Score each line of INPUT with a masked LM's energy (lower = more probable) "
        'and write JSON Lines: {"text", "energy", "n_tokens", "tokens", "token_energies"}.',
    )
    parser.add_argument(
        "input",
        help="text file, one sentence a line (.gz read transparently), or - for standard input",
    )
    parser.add_argument("--model", required=True, help="hub id or local folder of a masked LM")
    parser.add_argument(
        "--energy",
        choices=["norm", "raw"],
        default="norm",
        help="norm: negative pseudo-log-likelihood; raw: negative summed logits",
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
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the forward pass with torch.compile: faster per sentence after a one-time "
        "compilation that costs as much as scoring many sentences, so for long jobs; same scores",
    )
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda:0 (default: best one)")
    parser.add_argument("-o", "--output", default="-", help="output .jsonl (default: stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textebm.cli.common import quiet_libraries, read_sentences, show_progress
    from textebm.data.files import atomic_write
    from textebm.energies import MaskedLMEnergy, SequenceError
    from textebm.errors import UsageError
    from textebm.models.loading import load_masked_lm

    if args.batch_tokens < 1:
        raise UsageError(f"--batch-tokens must be positive, not {args.batch_tokens}")
    if not args.temperature > 0:
        raise UsageError(f"--temperature must be positive, not {args.temperature}")
    texts = read_sentences(args.input)
    quiet_libraries()
    from accelerate import PartialState

    state = PartialState(cpu=args.device == "cpu")
    model, tokenizer = load_masked_lm(args.model, device=args.device or state.device)
    energy = MaskedLMEnergy(
        model,
        tokenizer,
        kind=args.energy,
        whole_word=args.whole_word,
        temperature=args.temperature,
        batch_tokens=args.batch_tokens,
        compile=args.compile,
    )
    try:  # every process checks every line, so that all of them fail alike on bad input
        energy.encode(texts, truncate=args.truncate)
    except SequenceError as error:
        hint = "; pass --truncate to cut long sentences" if "maximum" in str(error) else ""
        raise UsageError(f"{args.input}: line {error.index + 1}: {error}{hint}") from None

    # Strided shards balance lengths across processes better than contiguous blocks.
    mine = list(range(state.process_index, len(texts), state.num_processes))
    progress = show_progress(len(texts), main_process=state.is_main_process)
    scored = energy.score_texts([texts[i] for i in mine], truncate=args.truncate, progress=progress)
    records = list(zip(mine, scored, strict=True))
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        records = sorted(gather_object(records), key=lambda item: item[0])
    if state.is_main_process:
        with atomic_write(args.output) as out:
            for _, item in records:
                out.write(
                    json.dumps(
                        {
                            "text": item.text,
                            "energy": item.energy,
                            "n_tokens": item.n_tokens,
                            "tokens": item.tokens,
                            "token_energies": item.token_energies,
                        }
                    )
                    + "\n"
                )
    state.wait_for_everyone()
    return 0
