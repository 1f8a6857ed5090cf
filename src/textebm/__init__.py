"""textebm: energy-based models of text on PyTorch and Hugging Face."""

__version__ = "0.1.0"

_MODELS = ("ElectricConfig", "ElectricModel")


def __getattr__(name: str):
    # Lazy, so that `import textebm` (every CLI call, `--help` included) does not import torch and
    # transformers; the first access imports textebm.models, which registers the Auto classes.
    if name in _MODELS:
        import textebm.models

        return getattr(textebm.models, name)
    raise AttributeError(f"module 'textebm' has no attribute {name!r}")
