"""Score the samples of generate.sh: reference perplexity, self-BLEU, distinct-n, MCMC rates.

For every `NAME.jsonl` that `textebm sample` wrote (with its `NAME.diagnostics.json`):
- reference perplexity: the PTB causal LM's perplexity over all kept samples, each scored alone
  as `bos text eos` (words and eos count; `textebm.eval.perplexity.sentence_perplexity`);
- self-BLEU (sacrebleu, 4-gram, mean over texts of BLEU against the others) and distinct-1/2/3,
  both per n-gram (distinct n-grams / all n-grams) and per token (distinct n-grams / all words,
  Li et al. 2016's definition; the two agree for n = 1), computed among the chains' samples at the
  same sweep (independent chains, so within-chain correlation cannot inflate them) and averaged
  over the kept sweeps;
- acceptance and novel-transition rates, energy ESS and R-hat from the diagnostics.
A `data` row scores PTB test sentences of the same lengths (10-15 words) the same way, in groups
of as many sentences as there are chains: what real text gives.

    python experiments/ptb/eval_samples.py --samples experiments/ptb/runs/samples \
        --clm experiments/ptb/runs/clm-quiet-2 --data /work/shared/data/ptb/ptb.test.txt \
        --json experiments/ptb/results/generation.json --table experiments/ptb/results/generation.md
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path
from statistics import fmean

import torch
from transformers import AutoModelForCausalLM

from textebm.data.files import atomic_write, read_lines, write_json
from textebm.data.tokenizers import load_tokenizer_folder
from textebm.eval.diversity import distinct_n, self_bleu
from textebm.eval.perplexity import sentence_perplexity


def group_metrics(groups: list[list[str]]) -> dict[str, float]:
    """Self-BLEU and distinct-n (per n-gram and per token) within each group of independent
    texts, averaged over groups."""
    metrics = {"self_bleu": fmean(self_bleu(texts) for texts in groups)}
    for per, denominator in (("ngram", "ngrams"), ("token", "tokens")):
        for n in (1, 2, 3):
            metrics[f"distinct_{n}_per_{per}"] = fmean(
                distinct_n(texts, n, denominator=denominator) for texts in groups
            )
    return metrics


def score(name: str, groups: list[list[str]], model, tokenizer, diagnostics: dict) -> dict:
    texts = [text for group in groups for text in group]
    with torch.inference_mode():
        reference = sentence_perplexity(model, tokenizer, texts)
    row = {
        "name": name,
        "samples": len(texts),
        "mean_words": sum(len(t.split()) for t in texts) / len(texts),
        "reference_perplexity": reference.perplexity,
        "reference_tokens": reference.tokens,
        **group_metrics(groups),
    }
    for key in ("acceptance_rate", "novel_transition_rate", "energy_ess_bulk", "energy_rhat"):
        row[key] = diagnostics.get(key)
    row["seconds"] = diagnostics.get("seconds")
    row["sequences"] = diagnostics.get("cost", {}).get("sequences")
    row["examples"] = texts[:: max(1, len(texts) // 3)][:3]
    return row


SAMPLERS = [
    "gibbs",
    "mask-predict-argmax",
    "mask-predict-sample",
    "mh-raw",
    "mh-norm",
    "block-mh-raw",
]


def run_order(path: Path) -> tuple[float, int, str]:
    """Temperature 1.0 first, then 0.8, 0.5; within one, generate.sh's order of samplers."""
    sampler, _, temperature = path.stem.rpartition("-T")
    if not sampler:  # no temperature in the name (Mask-Predict argmax ignores it)
        sampler, temperature = path.stem, "1.0"
    rank = SAMPLERS.index(sampler) if sampler in SAMPLERS else len(SAMPLERS)
    return -float(temperature), rank, path.stem


def sample_groups(path: Path) -> list[list[str]]:
    """The samples of one run, grouped by the sweep that kept them (one text per chain)."""
    by_sweep: dict[int, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        record = json.loads(line)
        by_sweep[record["sweep"]].append(record["text"])
    return [by_sweep[sweep] for sweep in sorted(by_sweep)]


def data_groups(path: str, size: int, count: int, seed: int = 0) -> list[list[str]]:
    """`count` groups of `size` test sentences of 10-15 words, drawn without replacement."""
    lines = [line.strip() for line in read_lines(path) if 10 <= len(line.split()) <= 15]
    chosen = random.Random(seed).sample(lines, size * count)
    return [chosen[i * size : (i + 1) * size] for i in range(count)]


def table(rows: list[dict]) -> str:
    def fmt(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}"

    # dist-1 is the same per n-gram and per token; dist-2 and dist-3 differ, so both are shown.
    lines = [
        "| sampler | samples | ref. ppl | self-BLEU | dist-1 | dist-2 (per n-gram) "
        "| dist-3 (per n-gram) | dist-2 (per token) | dist-3 (per token) | accept | novel "
        "| ESS | R-hat | seconds |",
        "|" + " --- |" * 14,
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['samples']} | {r['reference_perplexity']:.1f} | "
            f"{r['self_bleu']:.1f} | {fmt(r['distinct_1_per_ngram'])} | "
            f"{fmt(r['distinct_2_per_ngram'])} | {fmt(r['distinct_3_per_ngram'])} | "
            f"{fmt(r['distinct_2_per_token'])} | {fmt(r['distinct_3_per_token'])} | "
            f"{fmt(r['acceptance_rate'])} | "
            f"{fmt(r['novel_transition_rate'])} | {fmt(r['energy_ess_bulk'], 0)} | "
            f"{fmt(r['energy_rhat'], 2)} | {fmt(r['seconds'], 0)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", required=True, help="folder of NAME.jsonl from generate.sh")
    parser.add_argument("--clm", required=True, help="the reference causal LM's folder")
    parser.add_argument("--data", help="PTB test file: adds the real-text row")
    parser.add_argument("--json", required=True)
    parser.add_argument("--table", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(args.clm)
    tokenizer = load_tokenizer_folder(args.clm)
    rows = []
    for path in sorted(Path(args.samples).glob("*.jsonl"), key=run_order):
        diagnostics_path = path.with_suffix(".diagnostics.json")
        diagnostics = json.loads(diagnostics_path.read_text()) if diagnostics_path.exists() else {}
        rows.append(score(path.stem, sample_groups(path), model, tokenizer, diagnostics))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if args.data:
        groups = data_groups(args.data, size=32, count=10)
        rows.append(score("PTB test sentences", groups, model, tokenizer, {}))
    write_json(args.json, rows, indent=1)
    with atomic_write(args.table) as handle:
        handle.write(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
