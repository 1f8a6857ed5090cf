"""textebm: energy-based models of text on PyTorch and Hugging Face."""

from textebm import auto_registration

__version__ = "0.1.0"

# Cheap: a finder that registers textebm's model types with transformers' Auto classes when (and
# only when) transformers is imported; see textebm.auto_registration.
auto_registration.install()

_MODELS = ("ElectricConfig", "ElectricModel")


def __getattr__(name: str):
    # Lazy, so that `import textebm` (every CLI call, `--help` included) does not import torch and
    # transformers.
    if name in _MODELS:
        import textebm.models

        return getattr(textebm.models, name)
    raise AttributeError(f"module 'textebm' has no attribute {name!r}")
