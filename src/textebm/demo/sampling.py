"""The demo's sampling stage: MH and degenerate Gibbs from the demo's masked LM, judged exactly.

Both samplers start from all-[MASK] sequences whose lengths are drawn from the grammar's exact
length distribution, run the same number of sweeps, and keep the same number of samples. The
grammar then says how probable (exact log p) and how often grammatical the samples are. The MH
target is the masked LM's `raw` energy (Goyal et al. 2022 found it the better one for generation);
degenerate Gibbs has no target, only the masked conditionals.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import torch


def sample_lengths(grammar, chains: int, seed: int) -> list[int]:
    """Sentence lengths in words, drawn from p(sentence length).

    These are what `samplers.start.from_lengths` takes: it counts tokens without the special
    tokens it wraps them in, and the demo's word-level tokenizer gives one token per word.
    """
    distribution = grammar.length_distribution()
    rng = random.Random(seed)
    return rng.choices(list(distribution), weights=list(distribution.values()), k=chains)


def judge(grammar, texts: list[str]) -> dict:
    """Fraction grammatical and mean exact log p of the grammatical ones (nats per sentence)."""
    log_probs = [grammar.log_prob(text) for text in texts]
    finite = [lp for lp in log_probs if math.isfinite(lp)]
    # Words per sample, read back from the text: a length the grammar never produces is a
    # sampling bug (chains started at the wrong length), not the model's fault.
    word_counts = Counter(len(text.split()) for text in texts)
    return {
        "samples": len(texts),
        "distinct": len(set(texts)),
        "word_counts": dict(sorted(word_counts.items())),
        "fraction_grammatical": len(finite) / len(texts),
        "mean_log_prob_grammatical": sum(finite) / len(finite) if finite else None,
    }


def run_sampling(model_dir, chains: int, burn_in: int, sweeps: int, thin: int, seed: int) -> dict:
    """MH (raw energy) and degenerate Gibbs, same starts and budget; their samples judged."""
    from textebm.data.grammar import default_grammar
    from textebm.energies import MaskedLMEnergy
    from textebm.models.loading import load_masked_lm
    from textebm.samplers import DegenerateGibbs, MetropolisHastings, from_lengths, run_chains

    grammar = default_grammar()
    model, tokenizer = load_masked_lm(str(model_dir))
    lengths = sample_lengths(grammar, chains, seed)
    results = {"reference_mean_log_prob": -grammar.entropy()}
    kernels = {
        "mh": MetropolisHastings(MaskedLMEnergy(model, tokenizer, kind="raw")),
        "gibbs": DegenerateGibbs(MaskedLMEnergy(model, tokenizer, kind="raw")),
    }
    for name, kernel in kernels.items():
        generator = torch.Generator(device=model.device).manual_seed(seed)
        state, _ = kernel.init(
            *from_lengths(tokenizer, lengths).to(model.device).astuple(), generator
        )
        samples = run_chains(
            kernel, state, generator, sweeps=sweeps, burn_in=burn_in, thin=thin, progress=False
        )
        mask = state.attention_mask.bool().cpu()  # lengths never change along a chain
        texts = [
            tokenizer.decode(row[row_mask], skip_special_tokens=True)
            for kept in samples.tokens  # (chains, length) after each kept sweep
            for row, row_mask in zip(kept, mask, strict=True)
        ]
        diagnostics = samples.diagnostics
        results[name] = {
            **judge(grammar, texts),
            "acceptance_rate": diagnostics["acceptance_rate"],
            "novel_transition_rate": diagnostics["novel_transition_rate"],
            "sequences_through_model": diagnostics["cost"]["sequences"],
            "seconds": diagnostics["seconds"],
            "examples": texts[:3],
        }
    return results
