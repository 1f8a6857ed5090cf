"""A tiny conditional masked LM for translation tests whose length predictor favours short
targets (1 to 6 tokens, depending on the source), so that chains stay cheap."""

from __future__ import annotations

from pathlib import Path

import torch

from textebm.models.loading import load_cmlm
from textebm.models.tiny import build_tiny_cmlm

SHORTEST, LONGEST = 1, 6


def build_short_cmlm(folder: Path) -> Path:
    """The random tiny CMLM (init_scale 5) with lengths beyond LONGEST made improbable
    (their length-head bias at -20), saved to `folder`."""
    build_tiny_cmlm(folder, init_scale=5.0)
    model, _ = load_cmlm(str(folder), device="cpu")
    with torch.no_grad():
        model.length_head.bias[LONGEST + 1 :] = -20.0
    model.save_pretrained(folder)
    return folder
