"""Electric's recipe end to end on a toy whose answer is known: tokens i.i.d. from p, a frozen
noise model whose q ignores the context. It catches wiring errors the objective's own tests cannot
see: the sign of E in the logit, q read at the wrong token or on the wrong sequence, the prior,
and the validation accuracy's direction.

Words cat, dog, bird, tree, river; p = (.4, .3, .2, .1, 0), q = (.1, .1, .1, .2, .5). Each line
has n in 4..9 tokens, so k = 1 and exactly one position is noise. Then the Bayes posterior that
position t is the noisy one is r_t / sum_j r_j with r = q / p, and Electric's logit
E_t + log q_t + log(1 / (n-1)) matches it when

    E_t = -log p_t - log( sum_{j != t} r_j / (n-1) ).

On clean lines r_j has mean E_p[q/p] = q(support of p) = 0.5, so exp(-E_t) is about 0.5 p_t:
the shape of p, scaled by the noise's mass where the data lives. A "river" is never data, so every
river is called noise: accuracy rises above the base rate 1 - sum k / sum n by about half the
noise share (q(river) = 0.5).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from textebm.data.tokenizers import load_tokenizer_folder, train_tokenizer
from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.recipes.electric_config import ElectricTrainConfig

WORDS = ["cat", "dog", "bird", "tree", "river"]
P = [0.4, 0.3, 0.2, 0.1, 0.0]
Q = [0.1, 0.1, 0.1, 0.2, 0.5]
LENGTHS = range(4, 10)


@pytest.fixture
def toy(tmp_path) -> dict[str, Path]:
    """The corpus, its tokenizer and the context-free noise model, in tmp_path."""
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, P, k=rng.choice(LENGTHS))) for _ in range(1000)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(lines[:200]) + "\n")
    train_tokenizer(WORDS * 2, kind="wordlevel", model_max_length=16).save_pretrained(
        tmp_path / "tokenizer"
    )
    tokenizer = load_tokenizer_folder(str(tmp_path / "tokenizer"))
    ids = tokenizer.convert_tokens_to_ids(WORDS)
    settings = ClozeConfig(vocab_size=len(tokenizer), n_positions=16, n_embd=8, n_layer=1, n_head=1)
    noise = ClozeModel(settings)
    with torch.no_grad():  # logits = log q whatever the context; other tokens ~ never drawn
        noise.output.weight.zero_()
        noise.output.bias.fill_(-30.0)
        noise.output.bias[ids] = torch.tensor(Q).log()
    noise.save_pretrained(tmp_path / "noise")
    return {"folder": tmp_path, "lines": lines, "ids": ids}


@pytest.mark.slow
def test_the_recipe_recovers_the_data_distribution_and_detects_the_noise(
    electric_module, toy, tmp_path
):
    from textebm.recipes.electric import train_electric

    folder = toy["folder"]
    config = ElectricTrainConfig(
        corpus=str(folder / "train.txt"),
        validation=str(folder / "valid.txt"),
        tokenizer=str(folder / "tokenizer"),
        noise=str(folder / "noise"),
        output=str(tmp_path / "electric"),
        layers=1,
        hidden_size=32,
        heads=2,
        intermediate_size=64,
        context_length=16,
        dropout=0.0,
        batch_size=32,
        learning_rate=5e-3,
        max_steps=120,
        eval_every=0,
        log_every=20,
        checkpoint_every=1000,
    )
    output = train_electric(config)

    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if r["split"] == "validation"][-1]
    # Base rate on the validation lines (k = 1 each); a model that never says "noise" gets it.
    lengths = [len(line.split()) for line in toy["lines"][:200]]
    base = 1 - len(lengths) / sum(lengths)
    noise_share = 1 - base
    assert validation["accuracy"] > base + 0.35 * noise_share, (validation, base)
    assert validation["accuracy"] < base + 0.5 * noise_share + 0.02  # only rivers are noticeable

    model = AutoModel.from_pretrained(output).eval()
    tokenizer = load_tokenizer_folder(str(output))
    encoded = tokenizer(toy["lines"][:400], padding=True, return_tensors="pt")
    with torch.no_grad():
        energies = model(**encoded).energies
    recovered = torch.tensor(
        [float(torch.exp(-energies[encoded["input_ids"] == i]).mean()) for i in toy["ids"][:4]]
    )
    shape = recovered / recovered.sum()
    torch.testing.assert_close(shape, torch.tensor(P[:4]), atol=0.03, rtol=0)
    support = sum(q for q, p in zip(Q, P, strict=True) if p > 0)
    assert math.isclose(float(recovered.sum()), support, abs_tol=0.1), recovered
