"""Energies: scalar scores of token sequences, lower = more probable."""

from textebm.energies.base import Condition, Conditionals, Cost, Energy, EnergyOutput
from textebm.energies.causal_lm import CausalLMEnergy
from textebm.energies.classifier import ClassifierEnergy
from textebm.energies.masked_lm import MaskedLMEnergy, ScoredText, SequenceError

__all__ = [
    "CausalLMEnergy",
    "ClassifierEnergy",
    "Condition",
    "Conditionals",
    "Cost",
    "Energy",
    "EnergyOutput",
    "MaskedLMEnergy",
    "ScoredText",
    "SequenceError",
]
