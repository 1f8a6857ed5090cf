"""Samplers over token sequences: kernels with a typed state, a pure `step`, and one driver.

kernel = MetropolisHastings(energy)            # or DegenerateGibbs(energy), NaiveMH(energy)
start = from_lengths(energy.tokenizer, [12] * 8)
state, fill_passes = kernel.init(*start.astuple(), generator)
samples = run_chains(kernel, state, generator, sweeps=100, burn_in=20, thin=5)

Causal LMs sample exactly, without a chain: `generate` (see `samplers.generate`).
"""

from textebm.samplers.driver import Samples, geometric_schedule, run_chains
from textebm.samplers.generate import Generation, generate, generate_texts
from textebm.samplers.gibbs import DegenerateGibbs
from textebm.samplers.mask_predict import MaskPredictResult, mask_predict
from textebm.samplers.mh import MetropolisHastings, log_acceptance
from textebm.samplers.proposals import Proposal
from textebm.samplers.reference import NaiveMH
from textebm.samplers.start import Start, from_lengths, from_text
from textebm.samplers.state import ChainState, StepInfo

__all__ = [
    "ChainState",
    "DegenerateGibbs",
    "Generation",
    "MaskPredictResult",
    "MetropolisHastings",
    "NaiveMH",
    "Proposal",
    "Samples",
    "Start",
    "StepInfo",
    "from_lengths",
    "from_text",
    "generate",
    "generate_texts",
    "geometric_schedule",
    "log_acceptance",
    "mask_predict",
    "run_chains",
]
