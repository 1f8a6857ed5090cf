"""Electric's one pass against pseudo-log-likelihood's n: scoring and MH sweeps per second.

    . .venv/bin/activate && python benchmarks/electric_speed.py [--results FILE.md]

Both sides use models of one shape (a random BERT encoder; Electric puts a linear energy head on
it, the masked LM its tied output layer) and a word-level vocabulary built from PTB's training
words, so that only the way each scores differs:

  scoring  `ElectricEnergy.score_texts` (one pass per sentence) against
           `MaskedLMEnergy(kind="norm").score_texts` (one masked copy per token, packed under the
           same token budget), over PTB test sentences; passes counted by `energy.cost`.
           Goal (issue 11): at least 10x the sentences per second.
  sampling single-site MH with the Electric target and the masked LM proposing (a step: the
           proposal's masked copy and one Electric pass) against the cached masked-LM MH (a step:
           up to T - 1 new masked copies), same chains, length and proposals.
           Goal: at least 4x the sweeps per second at T = 15.

Timed rounds alternate the two sides so that a noisy neighbour hits both alike; the best round of
each is reported. Random weights: the work per pass does not depend on them (MH acceptance does,
so steps are counted, not accepted moves).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import torch
from _report import Transcript, write_report

PTB = Path(__file__).resolve().parents[2] / "shared/data/ptb"


def ptb_words(limit: int) -> list[str]:
    """The `limit` most frequent words of PTB's training text."""
    from collections import Counter

    from textebm.data.files import read_lines

    counts = Counter(w for line in read_lines(PTB / "ptb.train.txt.gz") for w in line.split())
    return [word for word, _ in counts.most_common(limit)]


def build(words: list[str], hidden: int, layers: int):
    """(masked-LM energy, Electric energy) of one shape, random weights, one tokenizer."""
    from transformers import BertForMaskedLM

    from textebm.energies import ElectricEnergy, MaskedLMEnergy
    from textebm.models.electric import ElectricConfig, ElectricModel
    from textebm.models.tiny import tiny_bert_config, wordlevel_tokenizer

    tokenizer = wordlevel_tokenizer(words=words)
    config = tiny_bert_config(
        len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        pad_token_id=tokenizer.pad_token_id,
    )
    drop = ("model_type", "transformers_version", "architectures")
    settings = {k: v for k, v in config.to_dict().items() if k not in drop}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mlm = BertForMaskedLM(config).eval()
        electric = ElectricModel(ElectricConfig(**settings)).eval()
    return MaskedLMEnergy(mlm, tokenizer, kind="norm"), ElectricEnergy(electric, tokenizer)


def time_scoring(energy, texts: list[str]) -> tuple[float, int]:
    before = energy.cost.snapshot()
    started = time.perf_counter()
    with torch.no_grad():
        energy.score_texts(texts)
    return time.perf_counter() - started, (energy.cost - before).sequences


def time_sweeps(kernel, state, sweeps: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    steps = sweeps * int(state.free.sum(dim=1).max())
    started = time.perf_counter()
    for _ in range(steps):
        state, _ = kernel.step(generator, state)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=200, help="PTB test sentences scored")
    parser.add_argument("--words", type=int, default=10000, help="vocabulary from PTB train")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--chains", type=int, default=32)
    parser.add_argument("--length", type=int, default=15, help="T, tokens per MH chain")
    parser.add_argument("--sweeps", type=int, default=2, help="MH sweeps per timed round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, help="also write the report to this .md file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from textebm.data.files import read_lines
    from textebm.samplers import MetropolisHastings, from_lengths

    say = Transcript()

    texts = read_lines(PTB / "ptb.test.txt")
    random.Random(0).shuffle(texts)
    texts = [t.strip() for t in texts if t.strip()][: args.sentences]
    mlm, electric = build(ptb_words(args.words), args.hidden, args.layers)
    n_tokens = sum(len(mlm.tokenizer(t)["input_ids"]) - 2 for t in texts)
    say(
        f"models: random BERT encoder {args.layers} x {args.hidden}, vocabulary "
        f"{len(mlm.tokenizer)} (PTB train's most frequent words); {args.threads} thread(s); "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    say(f"scoring: {len(texts)} PTB test sentences (random.Random(0)), {n_tokens} tokens")
    time_scoring(mlm, texts[:8]), time_scoring(electric, texts[:8])  # warm-up
    best: dict[str, tuple[float, int]] = {}
    for round_ in range(args.rounds):
        for name, energy in (("norm (PLL)", mlm), ("electric", electric)):
            seconds, passes = time_scoring(energy, texts)
            say(f"  round {round_ + 1} {name:10s} {seconds:7.2f} s  {passes:6d} sequences")
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, passes)
    rate = {name: len(texts) / seconds for name, (seconds, _) in best.items()}
    ratio = rate["electric"] / rate["norm (PLL)"]
    say(
        f"sentences/s: norm {rate['norm (PLL)']:.2f}, electric {rate['electric']:.2f}: "
        f"{ratio:.1f}x (goal >= 10x); sequences per sentence: norm "
        f"{best['norm (PLL)'][1] / len(texts):.1f}, electric {best['electric'][1] / len(texts):.1f}"
    )

    start = from_lengths(mlm.tokenizer, [args.length] * args.chains)
    kernels = {
        "masked LM (cached)": MetropolisHastings(mlm),
        "electric target": MetropolisHastings(electric, source=mlm),
    }
    states = {
        name: kernel.init(*start.astuple(), torch.Generator().manual_seed(0))[0]
        for name, kernel in kernels.items()
    }
    say()
    say(f"MH: {args.chains} chains, T = {args.length}, {args.sweeps} sweeps per round")
    fastest: dict[str, float] = {}
    for round_ in range(args.rounds):
        for name, kernel in kernels.items():
            seconds = time_sweeps(kernel, states[name], args.sweeps, round_)
            say(f"  round {round_ + 1} {name:18s} {seconds:7.2f} s")
            fastest[name] = min(seconds, fastest.get(name, seconds))
    sweeps = {name: args.sweeps / seconds for name, seconds in fastest.items()}
    mh_ratio = sweeps["electric target"] / sweeps["masked LM (cached)"]
    say(
        f"sweeps/s: masked LM {sweeps['masked LM (cached)']:.3f}, electric target "
        f"{sweeps['electric target']:.3f}: {mh_ratio:.1f}x (goal >= 4x); load average after: "
        f"{os.getloadavg()[0]:.2f}"
    )
    if args.results:
        title = "Electric against pseudo-log-likelihood: speed"
        write_report(args.results, title, say.fenced())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
