"""Score the samples of generate.sh: reference perplexity, self-BLEU, distinct-n, MCMC rates.

For every `NAME.jsonl` that `textebm sample` wrote (with its `NAME.diagnostics.json`):
- reference perplexity: the PTB causal LM's perplexity over all kept samples, each scored alone
  as `bos text eos` (words and eos count; `textebm.eval.perplexity.sentence_perplexity`);
- self-BLEU (sacrebleu, 4-gram, mean over texts of BLEU against the others) and distinct-1/2/3,
  both per n-gram (distinct n-grams / all n-grams) and per token (distinct n-grams / all words,
  Li et al. 2016's definition; the two agree for n = 1), computed among the chains' samples at the
  same sweep (independent chains, so within-chain correlation cannot inflate them) and averaged
  over the kept sweeps;
- acceptance and novel-transition rates and the energy's ESS from the diagnostics; R-hat is the
  worst length group's split R-hat (`energy_worst_length`: chains of one length compared), never
  the pooled one, whose mixed lengths inflate it; and the sweeps run past the burn-in and what
  stopped them (`stopping`: R-hat, `max_sweeps` or `time_budget`; `fixed` without --until-rhat),
  read by `textebm.eval.sampler_convergence`.
A `data` row scores PTB test sentences of the same lengths (10-15 words) the same way, in groups
of as many sentences as there are chains: what real text gives.

    python experiments/ptb/eval_samples.py --samples experiments/ptb/runs/samples \
        --clm experiments/ptb/runs/clm-quiet-2 --data /work/shared/data/ptb/ptb.test.txt \
        --json experiments/ptb/results/generation.json --table experiments/ptb/results/generation.md

With `--beside RECORDED.json` (converged.sh: the fixed-effort generation.json, its diagnostics in
the folder of the same name) the table puts, for each sampler, the recorded 100-sweep row beside
the run to convergence. The first `min_sweeps` sweeps of an --until-rhat run are the fixed run of
the same seed (the stopping check draws no random numbers), so the worst per-length R-hat of the
recorded run, which predates length groups, is read from the rule's first check when those first
sweeps reproduce the recorded samples (same examples, same reference perplexity); when they do
not (the code changed since), a row for those first sweeps is added instead. `--second-half`
scores only the samples of the second half of the sweeps past the burn-in (the half that split
R-hat compares with the first): what the stationary distribution gives, without the approach.
"""

from __future__ import annotations

import argparse
import json
import math
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
from textebm.eval.sampler_convergence import kept_within, read_convergence, worst_rhat_at


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
        row[key] = diagnostics.get(key)  # energy_rhat: pooled over lengths, for reference only
    if "sweeps" in diagnostics:  # Mask-Predict has iterations, not sweeps
        convergence = read_convergence(diagnostics)
        row["sweeps"] = convergence.sweeps
        row["burn_in"] = convergence.burn_in
        row["stopped_by"] = convergence.stopped_by
        row["until_rhat"] = convergence.until_rhat
        row["rhat_worst_length"] = convergence.rhat
        row["worst_length"] = convergence.rhat_length
        row["checks"] = convergence.checks
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


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sample_groups(records: list[dict], after_sweep: int = 0) -> list[list[str]]:
    """The samples of one run kept after `after_sweep` (a record's sweep counts the burn-in),
    grouped by the sweep that kept them (one text per chain)."""
    by_sweep: dict[int, list[str]] = defaultdict(list)
    for record in records:
        if record["sweep"] > after_sweep:
            by_sweep[record["sweep"]].append(record["text"])
    return [by_sweep[sweep] for sweep in sorted(by_sweep)]


def data_groups(path: str, size: int, count: int, seed: int = 0) -> list[list[str]]:
    """`count` groups of `size` test sentences of 10-15 words, drawn without replacement."""
    lines = [line.strip() for line in read_lines(path) if 10 <= len(line.split()) <= 15]
    chosen = random.Random(seed).sample(lines, size * count)
    return [chosen[i * size : (i + 1) * size] for i in range(count)]


def fmt(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def rhat_cell(row: dict) -> str:
    """The worst length group's split R-hat and its length ("-": not recorded per length)."""
    if row.get("rhat_worst_length") is None:
        return "-"
    where = f" (len {row['worst_length']})" if row.get("worst_length") is not None else ""
    return f"{row['rhat_worst_length']:.3f}{where}"


def sweeps_cell(row: dict) -> str:
    """Sweeps past the burn-in."""
    return "-" if row.get("sweeps") is None else str(row["sweeps"])


# dist-1 is the same per n-gram and per token; dist-2 and dist-3 differ, so both are shown.
METRICS_HEAD = (
    "| samples | ref. ppl | self-BLEU | dist-1 | dist-2 (per n-gram) | dist-3 (per n-gram) "
    "| dist-2 (per token) | dist-3 (per token) | accept | novel | ESS | R-hat (worst length) "
    "| seconds |"
)


def metric_cells(r: dict) -> str:
    return (
        f" {r['samples']} | {r['reference_perplexity']:.1f} | "
        f"{r['self_bleu']:.1f} | {fmt(r['distinct_1_per_ngram'])} | "
        f"{fmt(r['distinct_2_per_ngram'])} | {fmt(r['distinct_3_per_ngram'])} | "
        f"{fmt(r['distinct_2_per_token'])} | {fmt(r['distinct_3_per_token'])} | "
        f"{fmt(r['acceptance_rate'])} | {fmt(r['novel_transition_rate'])} | "
        f"{fmt(r['energy_ess_bulk'], 0)} | {rhat_cell(r)} | {fmt(r['seconds'], 0)} |"
    )


def table(rows: list[dict]) -> str:
    lines = [
        "| sampler | sweeps | stopped by " + METRICS_HEAD,
        "|" + " --- |" * 16,
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {sweeps_cell(r)} | {r.get('stopped_by') or '-'} |{metric_cells(r)}"
        )
    return "\n".join(lines) + "\n"


def beside_table(rows: list[dict]) -> str:
    """Rows of several runs, each labelled by its `run`, grouped by sampler in the given order."""
    lines = [
        "| sampler | run | sweeps | stopped by " + METRICS_HEAD,
        "|" + " --- |" * 17,
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['run']} | {sweeps_cell(r)} | {r.get('stopped_by') or '-'} |"
            f"{metric_cells(r)}"
        )
    return "\n".join(lines) + "\n"


def same_samples(recorded: dict, prefix: dict) -> str | None:
    """Why the first sweeps of a long run are not the recorded run, or None when they are: the
    same example samples (first, middle, last kept) and reference perplexity over all of them."""
    if recorded.get("examples") != prefix["examples"]:
        return "their example samples differ from the recorded ones"
    old, new = recorded["reference_perplexity"], prefix["reference_perplexity"]
    if not math.isclose(old, new, rel_tol=1e-6):
        return f"their reference perplexity {new:.3f} differs from the recorded {old:.3f}"
    return None


def with_recorded(
    name: str, records: list[dict], diagnostics: dict, recorded: dict, score_groups
) -> tuple[list[dict], str]:
    """The rows to put beside an --until-rhat run of `name` (the recorded fixed-effort run, and
    the long run's own first sweeps when they are not that run), and a note on how they relate.
    `score_groups(name, groups, diagnostics)` scores kept samples."""
    stopping = diagnostics.get("stopping")
    old = recorded.get(name)
    rows = [] if old is None else [{**old, "run": "recorded, fixed sweeps"}]
    if stopping is None:
        return rows, f"{name}: ran without --until-rhat; nothing to read the first sweeps from"
    minimum = stopping["min_sweeps"]
    check = worst_rhat_at(diagnostics, minimum)
    prefix = score_groups(name, sample_groups(kept_within(records, diagnostics, minimum)), {})
    prefix |= {"run": f"first {minimum} sweeps of the run below", "sweeps": minimum}
    prefix |= {"stopped_by": "fixed", "rhat_worst_length": check, "worst_length": None}
    differs = "no recorded row" if old is None else same_samples(old, prefix)
    if differs is None:
        row = rows[0]
        if row.get("rhat_worst_length") is None:
            row["rhat_worst_length"] = check
            row["rhat_source"] = f"the stopping rule's check at sweep {minimum} of the long run"
            how = f"so its R-hat is the stopping rule's check at sweep {minimum}"
        else:
            how = f"its own R-hat {row['rhat_worst_length']:.3f}; the rule's check {fmt(check)}"
        return rows, (
            f"{name}: the first {minimum} sweeps of the run to convergence reproduce the recorded "
            f"run (the same samples), {how}"
        )
    rows.append(prefix)
    return rows, (
        f"{name}: {differs}, so the first {minimum} sweeps of the run to convergence are a row "
        "of their own (R-hat: the rule's check there, its length not recorded; accept, novel, "
        "ESS and seconds are not kept for them)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", required=True, help="folder of NAME.jsonl from generate.sh")
    parser.add_argument("--clm", required=True, help="the reference causal LM's folder")
    parser.add_argument("--data", help="PTB test file: adds the real-text row")
    parser.add_argument("--json", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument(
        "--beside",
        metavar="RECORDED.json",
        help="a fixed-effort table's JSON (its diagnostics in the folder of the same name): "
        "each sampler's recorded row goes beside this run's (converged.sh)",
    )
    parser.add_argument(
        "--second-half",
        action="store_true",
        help="score the samples of the second half of the sweeps past the burn-in only",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(args.clm)
    tokenizer = load_tokenizer_folder(args.clm)
    recorded = read_recorded(Path(args.beside)) if args.beside else {}

    def score_groups(name: str, groups: list[list[str]], diagnostics: dict) -> dict:
        return score(name, groups, model, tokenizer, diagnostics)

    rows, notes = [], []
    for path in sorted(Path(args.samples).glob("*.jsonl"), key=run_order):
        diagnostics_path = path.with_suffix(".diagnostics.json")
        diagnostics = json.loads(diagnostics_path.read_text()) if diagnostics_path.exists() else {}
        records = read_records(path)
        if args.beside:
            earlier, note = with_recorded(path.stem, records, diagnostics, recorded, score_groups)
            rows.extend(earlier)
            notes.append(note)
        after = 0
        if args.second_half and "sweeps" in diagnostics:
            after = diagnostics["burn_in"] + diagnostics["sweeps"] // 2
        row = score(path.stem, sample_groups(records, after), model, tokenizer, diagnostics)
        row["samples_after_sweep"] = after
        rows.append({**row, "run": run_label(row, after)} if args.beside else row)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    if args.data:
        groups = data_groups(args.data, size=32, count=10)
        data = score("PTB test sentences", groups, model, tokenizer, {})
        rows.append({**data, "run": "real text"} if args.beside else data)
    write_json(args.json, rows, indent=1)
    text = beside_table(rows) if args.beside else table(rows)
    if notes:
        text += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    with atomic_write(args.table) as handle:
        handle.write(text)
    print(text)


def read_recorded(path: Path) -> dict[str, dict]:
    """{name: row} of a recorded table's JSON, each row completed from its diagnostics (in the
    folder named as the JSON, if there) with the sweeps, what stopped them and the worst
    per-length R-hat, when they were recorded (older runs have no per-length R-hat: None)."""
    rows = {row["name"]: row for row in json.loads(path.read_text())}
    for name, row in rows.items():
        diagnostics_path = path.with_suffix("") / f"{name}.diagnostics.json"
        if diagnostics_path.exists() and "sweeps" not in row:
            diagnostics = json.loads(diagnostics_path.read_text())
            if "sweeps" in diagnostics:
                convergence = read_convergence(diagnostics)
                row |= {"sweeps": convergence.sweeps, "stopped_by": convergence.stopped_by}
                row |= {"rhat_worst_length": convergence.rhat}
                row |= {"worst_length": convergence.rhat_length}
    return rows


def run_label(row: dict, after: int) -> str:
    stopped = row.get("stopped_by")
    label = {
        "converged": f"until R-hat <= {row.get('until_rhat')}",
        "max_sweeps": f"until R-hat <= {row.get('until_rhat')}: capped",
        "time_budget": f"until R-hat <= {row.get('until_rhat')}: capped",
    }.get(stopped, "this run")
    return label + (f"; samples of sweeps > {after} (burn-in counted)" if after else "")


if __name__ == "__main__":
    main()
