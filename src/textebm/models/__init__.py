"""Models: loading by hub id or folder, new model types, tiny test models.

Importing this package registers Electric ("electric") with `AutoConfig` / `AutoModel`, so
`AutoModel.from_pretrained(folder)` loads a saved Electric model. It is done here rather than in
`textebm/__init__.py` because it imports torch and transformers (seconds), which `textebm --help`
must not pay; `from textebm import ElectricModel` registers too.
"""

from textebm.models.electric import ElectricConfig, ElectricModel, ElectricOutput, register

register()

__all__ = ["ElectricConfig", "ElectricModel", "ElectricOutput", "register"]
