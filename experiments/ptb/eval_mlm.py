"""Pseudo-perplexity of a masked LM on text files, as JSON.

Each line is one sentence, encoded `[CLS] line [SEP]`; every word is masked in turn and scored
with the locally normalised energy (textebm.energies.MaskedLMEnergy, kind "norm"); the special
tokens are context only. pseudo-perplexity = exp(summed norm energy / number of scored tokens).

    python experiments/ptb/eval_mlm.py --model experiments/ptb/runs/mlm-small \
        --split test=/work/shared/data/ptb/ptb.test.txt --output experiments/ptb/results/mlm.json
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from transformers import AutoModelForMaskedLM

from textebm.data.files import read_lines, write_json
from textebm.data.tokenizers import load_tokenizer_folder
from textebm.energies import MaskedLMEnergy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run folder holding the final model")
    parser.add_argument("--split", action="append", required=True, metavar="NAME=FILE")
    parser.add_argument("--limit", type=int, default=0, help="first N lines only (0 = all)")
    parser.add_argument("--output", help="JSON file to write (default: print only)")
    args = parser.parse_args()
    model = AutoModelForMaskedLM.from_pretrained(args.model).eval()
    tokenizer = load_tokenizer_folder(args.model)
    energy = MaskedLMEnergy(model, tokenizer, kind="norm")
    results = {"model": args.model, "energy": "norm", "splits": {}}
    for split in args.split:
        name, path = split.split("=", 1)
        lines = [line for line in read_lines(path) if line.strip()]
        if args.limit:
            lines = lines[: args.limit]
        start = time.perf_counter()
        with torch.inference_mode():
            scored = energy.score_texts(lines, truncate=True)
        total = sum(s.energy for s in scored)
        count = sum(s.n_tokens for s in scored)
        results["splits"][name] = {
            "pseudo_perplexity": math.exp(total / count),
            "energy_per_token": total / count,
            "energy": total,
            "tokens": count,
            "sentences": len(lines),
            "seconds": time.perf_counter() - start,
        }
        print(f"{name}: pseudo-perplexity {math.exp(total / count):.2f} over {count} tokens")
    if args.output:
        write_json(args.output, results)


if __name__ == "__main__":
    main()
