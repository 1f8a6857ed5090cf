"""Energies: scalar scores of token sequences, lower = more probable.

The names below are imported on first use (PEP 562), not with the package: the command line reads
`textebm.energies.registry` while it builds its parser, and `textebm --help` should not wait
seconds for torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textebm.lazy import lazy_exports

# Exported name -> the submodule that defines it.
_EXPORTS = {
    "CausalLMEnergy": "causal_lm",
    "ClassifierEnergy": "classifier",
    "Condition": "base",
    "ConditionalMaskedLMEnergy": "conditional",
    "Conditionals": "base",
    "Cost": "base",
    "ElectricEnergy": "electric",
    "Energy": "base",
    "EnergyOutput": "base",
    "MaskedLMEnergy": "masked_lm",
    "ScoredText": "masked_lm",
    "SequenceError": "masked_lm",
}

__all__ = [  # literal, so that linters and type checkers see the names
    "CausalLMEnergy",
    "ClassifierEnergy",
    "Condition",
    "ConditionalMaskedLMEnergy",
    "Conditionals",
    "Cost",
    "ElectricEnergy",
    "Energy",
    "EnergyOutput",
    "MaskedLMEnergy",
    "ScoredText",
    "SequenceError",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from textebm.energies.base import Condition, Conditionals, Cost, Energy, EnergyOutput
    from textebm.energies.causal_lm import CausalLMEnergy
    from textebm.energies.classifier import ClassifierEnergy
    from textebm.energies.conditional import ConditionalMaskedLMEnergy
    from textebm.energies.electric import ElectricEnergy
    from textebm.energies.masked_lm import MaskedLMEnergy, ScoredText, SequenceError
