"""Where textebm's scoring time goes: torch.profiler over the benchmark's scoring run.

    . .venv/bin/activate && python benchmarks/profile_score.py \
        [--results benchmarks/PROFILE-score.md]

Scores the same sentences as benchmarks/score_pll.py (same model, same data, same token budget,
one process on --threads threads, after an untimed warm-up) under torch.profiler, and prints each
operator's share of the self CPU time, grouped: the matrix products the useful-work count covers
(linear layers and attention products), the elementwise and normalisation work around them
(GELU, layer norm, softmax, residual adds, copies), and the rest (indexing, embeddings,
Python-side overhead that no operator accounts for). The pinned matrix-product rate is measured in
the same process, so the matrix products' own rate can be compared with it. Times are self times:
the `aten::copy_` that `addmm` makes to broadcast a linear layer's bias into its output counts as
elementwise work, not as the matrix product.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

from _report import write_report
from _score_setup import (
    BERT_BASE,
    DEFAULT_CACHE,
    DEFAULT_PTB,
    build_model_dir,
    load_sentences,
    useful_gflop,
)

# Operators by what they do; anything not listed counts as "other".
GROUPS = {
    "matrix products": ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm"),
    "attention (SDPA kernels)": ("scaled_dot_product", "flash_attention", "efficient_attention"),
    "elementwise & normalisation": (
        "gelu",
        "layer_norm",
        "native_layer_norm",
        "softmax",
        "add",
        "mul",
        "div",
        "copy_",
        "clone",
        "contiguous",
        "where",
        "masked_fill",
        "logsumexp",
        "tanh",
        "erf",
    ),
}


def group_of(name: str) -> str:
    """The group of an operator: the first whose names start the operator's name (after
    `aten::` and any leading underscore: `_scaled_dot_product_flash_attention_for_cpu`)."""
    bare = name.removeprefix("aten::").lstrip("_")
    for group, names in GROUPS.items():
        if any(bare.startswith(n) for n in names):
            return group
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sentences", type=int, default=48)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15, help="operators listed one by one")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--ptb", type=Path, default=DEFAULT_PTB)
    parser.add_argument("--results", type=Path, help="also write the output here (markdown)")
    args = parser.parse_args()
    os.environ.setdefault("CI", "1")

    import torch
    from torch.profiler import ProfilerActivity, profile

    from textebm.energies import MaskedLMEnergy
    from textebm.hardware import matmul_rate
    from textebm.models.loading import load_masked_lm

    torch.set_num_threads(args.threads)
    sentences, _ = load_sentences(args.ptb, args.n_sentences, 0)
    model, tokenizer = load_masked_lm(build_model_dir(args.cache, args.ptb), device="cpu")
    energy = MaskedLMEnergy(model, tokenizer, kind="norm", batch_tokens=args.batch_tokens)
    lengths = [len(item["input_ids"]) for item in energy.encode(sentences)]
    energy.score_texts([" ".join(sentences[0].split()[:8])])  # warm-up, untimed
    rate = matmul_rate(threads=args.threads)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        energy.score_texts(sentences)
    seconds = time.perf_counter() - start
    gflop = useful_gflop(lengths, BERT_BASE)

    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) / 1e6
    groups: collections.Counter[str] = collections.Counter()
    for event in events:
        groups[group_of(event.key)] += event.self_cpu_time_total / 1e6
    lines = [
        f"{len(sentences)} sentences, batch_tokens {args.batch_tokens}, {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.2f}",
        f"wall {seconds:.1f} s under the profiler; useful work {gflop:.0f} GFLOP = "
        f"{gflop / seconds:.1f} GFLOP/s; pinned matmul rate {rate:.1f} GFLOP/s "
        f"({gflop / seconds / rate:.0%})",
        f"operators' self CPU time: {total:.1f} s (of {seconds:.1f} s wall; the rest is Python "
        "and profiler overhead outside operators)",
        "",
        f"{'group':<32}{'seconds':>9}{'share':>8}",
    ]
    for group, value in groups.most_common():
        lines.append(f"{group:<32}{value:>9.2f}{value / seconds:>8.1%}")
    matmul_seconds = groups["matrix products"]
    if matmul_seconds:
        lines.append(
            f"useful work per second of matrix products: {gflop / matmul_seconds:.1f} GFLOP/s "
            f"({gflop / matmul_seconds / rate:.0%} of the pinned rate)"
        )
    lines += ["", f"{'operator':<40}{'calls':>7}{'seconds':>9}{'share':>8}"]
    for event in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        value = event.self_cpu_time_total / 1e6
        lines.append(f"{event.key[:40]:<40}{event.count:>7}{value:>9.2f}{value / seconds:>8.1%}")
    print("\n".join(lines))
    if args.results:
        title = "Where textebm's scoring time goes (torch.profiler)"
        write_report(args.results, title, "```\n" + "\n".join(lines) + "\n```")
        print(f"wrote {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
