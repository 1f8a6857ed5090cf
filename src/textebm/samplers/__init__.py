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

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from textebm.lazy import lazy_exports

# Exported name -> the submodule that defines it. Imported on first use (PEP 562): the command line
# reads `textebm.samplers.config` while it builds its parser, and `textebm --help` should not wait
# seconds for torch and transformers.
_EXPORTS = {
    "ChainState": "state",
    "DegenerateGibbs": "gibbs",
    "Generation": "generate",
    "Kernel": "driver",
    "MaskPredictResult": "mask_predict",
    "MetropolisHastings": "mh",
    "NaiveMH": "reference",
    "Proposal": "proposals",
    "ProposalSource": "proposals",
    "SampleConfig": "config",
    "SampleResult": "api",
    "Samples": "driver",
    "Start": "start",
    "StepInfo": "state",
    "StopRule": "convergence",
    "build_kernel": "api",
    "build_start": "api",
    "from_lengths": "start",
    "from_text": "start",
    "generate": "generate",
    "generate_texts": "generate",
    "geometric_schedule": "driver",
    "log_acceptance": "mh",
    "mask_predict": "mask_predict",
    "merge": "sharded",
    "run_chains": "driver",
    "sample_across": "sharded",
    "sample": "api",
}

__all__ = [  # literal, so that linters and type checkers see the names
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _Package(types.ModuleType):
    """Keeps `generate` and `mask_predict` naming the functions, as when this package imported
    everything eagerly: importing a submodule of the same name sets the package attribute to it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the name stays free for `__getattr__`, which returns the function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
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
