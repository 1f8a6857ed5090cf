"""Models: loading by hub id or folder, new model types, tiny test models.

Importing this package registers textebm's model types with `AutoConfig` / `AutoModel`: Electric
("electric") and the two-tower cloze noise model ("textebm-cloze"), so that
`AutoModel.from_pretrained(folder)` loads either. It is done here rather than in
`textebm/__init__.py` because it imports torch and transformers (seconds), which `textebm --help`
must not pay; `from textebm import ElectricModel` registers too.
"""

from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.models.electric import ElectricConfig, ElectricModel, ElectricOutput, register

register()

__all__ = [
    "ClozeConfig",
    "ClozeModel",
    "ElectricConfig",
    "ElectricModel",
    "ElectricOutput",
    "register",
]
