"""Models: loading by hub id or folder, new model types, tiny test models.

Importing this package registers textebm's model types with `AutoConfig` / `AutoModel`: Electric
("electric"), the two-tower cloze noise model ("textebm-cloze") and the conditional masked LM
("textebm-cmlm"), so that `AutoModel.from_pretrained(folder)` loads any of them. It is done here
rather than in `textebm/__init__.py` because it imports torch and transformers (seconds), which
`textebm --help` must not pay; `from textebm import ElectricModel` registers too.
"""

from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.models.cmlm import CMLMConfig, CMLMEncoderOutput, CMLMModel, CMLMOutput
from textebm.models.electric import ElectricConfig, ElectricModel, ElectricOutput, register

register()

__all__ = [
    "CMLMConfig",
    "CMLMEncoderOutput",
    "CMLMModel",
    "CMLMOutput",
    "ClozeConfig",
    "ClozeModel",
    "ElectricConfig",
    "ElectricModel",
    "ElectricOutput",
    "register",
]
