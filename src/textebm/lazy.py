"""Package names that import their submodule on first use (PEP 562).

The command line reads some light submodules (`energies.registry`, `samplers.config`) while it
builds its parser, and `textebm --help` should not wait seconds for torch and transformers; so
the heavy packages import nothing when loaded and bind each exported name on first look-up.
Keep this module free of heavy imports: every such package imports it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package` (its `__name__`, already in sys.modules),
    whose exported names map to the submodule that defines each (`{"Cost": "base"}`).

    A name is imported on its first look-up and then bound in the package's namespace, so later
    look-ups skip `__getattr__`; any other name is an AttributeError.
    """
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
