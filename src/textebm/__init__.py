"""textebm: energy-based models of text on PyTorch and Hugging Face."""

__version__ = "0.1.0"
