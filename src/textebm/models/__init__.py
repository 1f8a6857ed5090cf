"""Models: loading by hub id or folder, new model types, tiny test models.

textebm's model types are Electric ("electric"), the two-tower cloze noise model ("textebm-cloze")
and the conditional masked LM ("textebm-cmlm"). `import textebm` is enough for
`AutoConfig` / `AutoModel.from_pretrained(folder)` to know them: `textebm.auto_registration`
registers them once transformers' Auto classes are imported. Nothing heavy is imported here, so
that `textebm.models.loading` and friends do not pay for every model's code: the names below
import their module on first use (`from textebm.models import ElectricModel` works as before).
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it.
_EXPORTS = {
    "CMLMConfig": "textebm.models.cmlm",
    "ClozeConfig": "textebm.models.cloze",
    "ElectricConfig": "textebm.models.electric",
    "CMLMEncoderOutput": "textebm.models.cmlm",
    "CMLMModel": "textebm.models.cmlm",
    "CMLMOutput": "textebm.models.cmlm",
    "ClozeModel": "textebm.models.cloze",
    "ElectricModel": "textebm.models.electric",
    "ElectricOutput": "textebm.models.electric",
}

__all__ = [*sorted(_EXPORTS), "register"]


def register() -> None:
    """Register every textebm model type with `AutoConfig` / `AutoModel` now (idempotent).

    Rarely needed: importing `textebm` arranges it. Each model module registers itself when
    imported, so importing them is the registration.
    """
    for module in ("electric", "cloze", "cmlm"):
        importlib.import_module(f"textebm.models.{module}")


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'textebm.models' has no attribute {name!r}")
