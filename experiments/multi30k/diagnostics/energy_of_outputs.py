"""Is MH's shortfall a search failure or the energy's? Score every decoder's output (and the
reference) under the CMLM's own `raw` and `norm` energies given the source.

If MH's translations have LOWER energy than Mask-Predict's but lower BLEU, the sampler did its job
and the energy's low regions are not better translations (a model limit); if HIGHER, MH did not
reach what Mask-Predict found (too few sweeps, or a start temperature too high).

    python experiments/multi30k/diagnostics/energy_of_outputs.py --lines 0-200 \
        --methods greedy,mask-predict,gibbs,mh-raw,mh-norm,mh-raw-T0.5,beam \
        --json experiments/multi30k/results/diagnostics/energy_of_outputs.json

Energies are per target token (raw energies are not comparable across lengths, so the head-to-head
counts also use only the lines where both outputs have the same length).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from run import MULTI30K, decoded_records  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(HERE / "runs/full/cmlm"))
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--lines", default="0-200", help="FROM-TO, half-open")
    parser.add_argument(
        "--methods", default="greedy,mask-predict,gibbs,mh-raw,mh-norm,mh-raw-T0.5,beam"
    )
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    from textebm.data.files import read_lines
    from textebm.energies.conditional import ConditionalMaskedLMEnergy
    from textebm.models.loading import load_cmlm

    torch.manual_seed(0)
    first, last = map(int, args.lines.split("-"))
    sources = read_lines(MULTI30K / "test_2016_flickr.lc.norm.tok.de.gz")
    outputs = {
        "reference": dict(enumerate(read_lines(MULTI30K / "test_2016_flickr.lc.norm.tok.en.gz")))
    }
    for method in args.methods.split(","):
        records = decoded_records(Path(args.results), method)
        outputs[method] = {line: r["text"] for line, r in records.items()}
    lines = [i for i in range(first, last) if all(i in o for o in outputs.values())]
    model, tokenizer = load_cmlm(args.model)
    energies = {
        kind: ConditionalMaskedLMEnergy(model, tokenizer, kind=kind) for kind in ("raw", "norm")
    }
    figures: dict = {"lines": [first, last], "scored_lines": len(lines), "methods": {}}
    per_token: dict[str, dict[str, list[float]]] = {}
    lengths: dict[str, list[int]] = {}
    for method, texts in outputs.items():
        targets = [texts[i] for i in lines]
        lengths[method] = [
            len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in targets
        ]
        per_token[method] = {}
        for kind, energy in energies.items():
            with torch.no_grad():
                values = energy.score_pairs([sources[i] for i in lines], targets)
            per_token[method][kind] = [v / n for v, n in zip(values, lengths[method], strict=True)]
        figures["methods"][method] = {
            f"{kind}_per_token": statistics.fmean(v) for kind, v in per_token[method].items()
        } | {"tokens": statistics.fmean(lengths[method])}
    for mh in ("mh-raw", "mh-norm", "gibbs"):
        if mh not in outputs:
            continue
        kind = "norm" if mh == "mh-norm" else "raw"
        same = [k for k in range(len(lines)) if lengths[mh][k] == lengths["mask-predict"][k]]
        lower = sum(
            per_token[mh][kind][k] < per_token["mask-predict"][kind][k] - 1e-6 for k in same
        )
        equal = sum(
            abs(per_token[mh][kind][k] - per_token["mask-predict"][kind][k]) <= 1e-6 for k in same
        )
        figures[f"{mh}_vs_mask_predict_same_length"] = {
            "energy": kind, "lines": len(same), "lower": lower, "equal": equal,
            "higher": len(same) - lower - equal,
        }  # fmt: skip
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
