"""Reference perplexity of a causal LM on text files (PTB: the standard way), as JSON.

Each file is one token stream, `bos line eos` per line; every word and every eos is scored (the
bos tokens are not), `<unk>` is an ordinary word; windows of the model's context length, `stride`
new tokens scored per window (see textebm.eval.perplexity).

    python experiments/ptb/eval_clm.py --model experiments/ptb/runs/clm-30min \
        --split valid=/work/shared/data/ptb/ptb.valid.txt \
        --split test=/work/shared/data/ptb/ptb.test.txt --stride 63 --stride 32 \
        --output experiments/ptb/results/clm-30min.json
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM

from textebm.data.files import read_lines, write_json
from textebm.data.tokenizers import load_tokenizer_folder
from textebm.eval.perplexity import corpus_perplexity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder holding the final model")
    parser.add_argument("--split", action="append", required=True, metavar="NAME=FILE")
    parser.add_argument("--stride", action="append", type=int, metavar="N", help="default L-1")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", help="JSON file to write (default: print only)")
    args = parser.parse_args()
    model = AutoModelForCausalLM.from_pretrained(args.model)
    tokenizer = load_tokenizer_folder(args.model)
    context = model.config.n_positions
    results = {"model": args.model, "context_length": context, "splits": {}}
    for split in args.split:
        name, path = split.split("=", 1)
        lines = read_lines(path)
        for stride in args.stride or [context - 1]:
            start = time.perf_counter()
            with torch.inference_mode():
                result = corpus_perplexity(
                    model, tokenizer, lines, stride=stride, batch_size=args.batch_size
                )
            record = {**result.as_dict(), "seconds": time.perf_counter() - start}
            results["splits"].setdefault(name, []).append(record)
            print(
                f"{name} (context {context}, stride {stride}): perplexity "
                f"{result.perplexity:.2f} over {result.tokens} tokens",
                flush=True,
            )
    if args.output:
        write_json(args.output, results)


if __name__ == "__main__":
    main()
