"""The minicons side of benchmarks/score_pll.py; runs in the benchmark-only env `.bench-venv`.

minicons 0.3.39 calls `tokenizer.batch_encode_plus`, which transformers 5 removed, so it runs in its
own environment (torch 2.13.0, transformers < 5, minicons) on the same saved weights and
`vocab.txt` as textebm. This file imports only the standard library, torch, transformers and
minicons, and prints one JSON object on standard output.

    .bench-venv/bin/python benchmarks/_minicons_side.py check MODEL_DIR SENTENCES.json PROBE.pt
    .bench-venv/bin/python benchmarks/_minicons_side.py score MODEL_DIR SENTENCES.json \
        [--batch-size 16] [--threads 2]
    .bench-venv/bin/python benchmarks/_minicons_side.py run MODEL_DIR SENTENCES.json [...]

`check` reports the token ids minicons scores (padding removed), the library versions, and saves
the model's logits on the first sentence (unmasked) to PROBE.pt so the caller can compare weights.
`score` times `MaskedLMScorer.sequence_score(batch, PLL_metric="original")` over batches of
`--batch-size` sentences, per-token log-probabilities summed, after one untimed warm-up call, and
reports the scores, the seconds, the process's peak resident memory, and the pinned matrix-product
rate (`textebm.hardware.matmul_rate`, loaded from its file: textebm is not installed in this env)
measured in this process just before and just after the timed loop.
`run` scores the sentences the same way with no warm-up and no timing: the caller times the whole
process, as it times the `textebm score` command.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

HARDWARE = Path(__file__).resolve().parent.parent / "src" / "textebm" / "hardware.py"


def rss_mb() -> float:
    """Current resident set size of this process, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_rate(threads: int) -> float:
    """textebm.hardware.matmul_rate with its pinned defaults, from textebm's source file."""
    spec = importlib.util.spec_from_file_location("textebm_hardware", HARDWARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.matmul_rate(threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["check", "score", "run"])
    parser.add_argument("model_dir")
    parser.add_argument("sentences", help="JSON file: a list of sentences")
    parser.add_argument("probe", nargs="?", help="check: where to save the probe logits")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import minicons
    import transformers
    from minicons import scorer

    with open(args.sentences) as file:
        sentences = json.load(file)
    model = scorer.MaskedLMScorer(args.model_dir, "cpu")
    rss_loaded = rss_mb()

    if args.mode == "check":
        encoded = model.encode(sentences, manual_special=False)
        ids = [
            [token for token, keep in zip(row, mask, strict=True) if keep]
            for row, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
        ]
        first = torch.tensor([ids[0]])
        with torch.no_grad():
            logits = model.model(input_ids=first).logits[0]
        torch.save({"logits": logits.contiguous()}, args.probe)
        result = {
            "ids": ids,
            "tokenizer": type(model.tokenizer).__name__,
            "attention": getattr(model.model.config, "_attn_implementation", None),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "minicons": getattr(minicons, "__version__", "0.3.39?"),
            },
        }
    else:

        def score(batch: list[str]) -> list[float]:
            return model.sequence_score(
                batch, reduction=lambda x: x.sum(0).item(), PLL_metric="original"
            )

        def score_all() -> list[float]:
            scores: list[float] = []
            for begin in range(0, len(sentences), args.batch_size):
                scores.extend(score(sentences[begin : begin + args.batch_size]))
            return scores

        if args.mode == "run":
            json.dump({"scores": score_all()}, sys.stdout)
            return
        score([" ".join(sentences[0].split()[:8])])  # warm-up, untimed
        before = matmul_rate(args.threads)
        start = time.perf_counter()
        scores = score_all()
        seconds = time.perf_counter() - start
        result = {
            "scores": scores,
            "seconds": seconds,
            "matmul_gflops": [before, matmul_rate(args.threads)],
            "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": peak_rss_mb(),
            "threads": torch.get_num_threads(),
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
