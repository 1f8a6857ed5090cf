"""Tiny causal LMs with a <bkspc> token made likely, for the backspace generation tests: any
model (`with_backspace`, e.g. over `textebm.models.tiny.tiny_llama`), or the shared tiny GPT-2
saved to a folder (`build_backspace_clm`)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from textebm.models.backspace import add_backspace
from textebm.models.saving import no_save_progress
from textebm.models.tiny import build_tiny_clm
from textebm.samplers.generate import prompt_ids


def with_backspace(model, tokenizer, logit: float):
    """Add <bkspc> to a model and tokenizer, then set its output row so that its logit is about
    `logit` in typical contexts: `logit` times the mean final hidden state over its squared norm.
    Returns (model, tokenizer, bkspc id)."""
    bk = add_backspace(model, tokenizer)
    ids = torch.tensor([prompt_ids(tokenizer, ["the cat sat on the mat with a dog"])[0]])
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
        if hasattr(model, "transformer"):  # GPT-2's last hidden state is before ln_f
            hidden = model.transformer.ln_f(hidden)
        mean = hidden.mean(dim=0)
        model.get_output_embeddings().weight[bk] = logit * mean / mean.norm() ** 2
    return model, tokenizer, bk


def build_backspace_clm(folder: str | Path, logit: float = 3.0) -> Path:
    """The tiny GPT-2 of `build_tiny_clm` with a <bkspc> token, saved to `folder`."""
    folder = build_tiny_clm(folder, init_scale=5.0)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    model, tokenizer, _ = with_backspace(model, AutoTokenizer.from_pretrained(folder), logit)
    with no_save_progress():
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
