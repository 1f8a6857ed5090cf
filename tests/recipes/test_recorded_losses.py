"""Refactoring guard: a short masked-LM and causal-LM run reproduce losses recorded before it.

`recorded_losses.json` holds the per-step training losses (and the final validation loss) of
both recipes as the code stood before the losses moved to `textebm.objectives` and the loop grew
its extension points. The corpus has no unknown words, so changes to how [UNK] is treated do not
move these numbers. Re-record (only after a deliberate change of the trajectory) with
`TEXTEBM_RECORD_LOSSES=1 python -m pytest tests/recipes/test_recorded_losses.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from textebm.data.tokenizers import load_tokenizer_folder
from textebm.recipes.config import ClmConfig, MlmConfig

RECORDED = Path(__file__).with_name("recorded_losses.json")
# fp32 on any CPU: where AMX makes `auto` mean bf16, the recorded fp32 losses cannot be matched
SETTINGS = dict(
    max_steps=30, eval_every=0, checkpoint_every=0, pll_examples=0, mixed_precision="no"
)


def _run(name: str, make_config) -> dict[str, list[float]]:
    from textebm.recipes.clm import train_clm
    from textebm.recipes.mlm import train_mlm

    cls, run = {"mlm": (MlmConfig, train_mlm), "clm": (ClmConfig, train_clm)}[name]
    settings = dict(SETTINGS)
    if cls is ClmConfig:
        settings.pop("pll_examples")
    output = run(make_config(cls, **settings))
    lines = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    return {
        "train": [r["loss"] for r in lines if r["split"] == "train"],
        "validation": [r["loss"] for r in lines if r["split"] == "validation"],
    }


def test_the_corpus_has_no_unknown_words(corpus, tokenizer_dir):
    tokenizer = load_tokenizer_folder(str(tokenizer_dir))
    for path in corpus:
        text = [line for line in path.read_text().splitlines() if line]
        ids = [i for row in tokenizer(text)["input_ids"] for i in row]
        assert tokenizer.unk_token_id not in ids


@pytest.mark.parametrize("name", ["mlm", "clm"])
def test_losses_match_the_recording_step_for_step(name, make_config):
    losses = _run(name, make_config)
    assert len(losses["train"]) == SETTINGS["max_steps"] and len(losses["validation"]) == 1
    recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    if os.environ.get("TEXTEBM_RECORD_LOSSES"):
        recorded[name] = losses
        RECORDED.write_text(json.dumps(recorded, indent=1) + "\n")
    assert losses["train"] == pytest.approx(recorded[name]["train"], rel=1e-6)
    assert losses["validation"] == pytest.approx(recorded[name]["validation"], rel=1e-6)
