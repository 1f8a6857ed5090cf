"""Samplers over token sequences: kernels with a typed state, a pure `step`, and one driver.

result = sample(SampleConfig(model="my-mlm", length="12"))   # all of it, as `textebm sample`

or piece by piece:

kernel = MetropolisHastings(energy)            # or DegenerateGibbs(energy), NaiveMH(energy)
start = from_lengths(energy.tokenizer, [12] * 8)
state, fill_passes = kernel.init(*start.astuple(), generator)
samples = run_chains(kernel, state, generator, sweeps=100, burn_in=20, thin=5)
# or until the energy's split R-hat is <= 1.05 in every length group, at most 2000 sweeps:
samples = run_chains(kernel, state, generator, 100, 20, 5, stop=StopRule(1.05, max_sweeps=2000))

On many processes (torchrun): `sample_across(config, Processes())`, each a shard of the chains
(`sample(config, shard=Shard(r, W))`), merged on the main process (see `samplers.sharded`).

Causal LMs sample exactly, without a chain: `generate` (see `samplers.generate`).
"""

from textebm.samplers.api import SampleResult, build_kernel, build_start, sample
from textebm.samplers.config import SampleConfig
from textebm.samplers.convergence import StopRule
from textebm.samplers.driver import Kernel, Samples, geometric_schedule, run_chains
from textebm.samplers.generate import Generation, generate, generate_texts
from textebm.samplers.gibbs import DegenerateGibbs
from textebm.samplers.mask_predict import MaskPredictResult, mask_predict
from textebm.samplers.mh import MetropolisHastings, log_acceptance
from textebm.samplers.proposals import Proposal, ProposalSource
from textebm.samplers.reference import NaiveMH
from textebm.samplers.sharded import merge, sample_across
from textebm.samplers.start import Start, from_lengths, from_text
from textebm.samplers.state import ChainState, StepInfo

__all__ = [
    "ChainState",
    "DegenerateGibbs",
    "Generation",
    "Kernel",
    "MaskPredictResult",
    "MetropolisHastings",
    "NaiveMH",
    "Proposal",
    "ProposalSource",
    "SampleConfig",
    "SampleResult",
    "Samples",
    "Start",
    "StepInfo",
    "StopRule",
    "build_kernel",
    "build_start",
    "from_lengths",
    "from_text",
    "generate",
    "generate_texts",
    "geometric_schedule",
    "log_acceptance",
    "mask_predict",
    "merge",
    "run_chains",
    "sample",
    "sample_across",
]
