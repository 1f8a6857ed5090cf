"""Noise tokens followed by `<bkspc>` inserted into data sequences."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from textebm.data.actions import apply_actions, layout_actions
from textebm.data.backspace_noise import (
    model_noise,
    ordinary_ids,
    splice_noise,
    uniform_noise,
)
from textebm.models.backspace import add_backspace
from textebm.models.tiny import build_tiny_clm

K = 99  # the backspace id in the hand-worked cases


def test_splice_by_hand():
    noisy = splice_noise([10, 11, 12], [50, 51, 52], [False, True, True], K)
    assert noisy.actions == [10, 51, K, 11, 52, K, 12]
    assert noisy.is_noise == [False, True, False, False, True, False, False]
    assert apply_actions(noisy.actions, K) == [10, 11, 12]


def data_rows(generator: torch.Generator, count: int = 40) -> list[list[int]]:
    """`count` rows of 0..30 ids in 5..59 (some empty)."""
    lengths = torch.randint(0, 31, (count,), generator=generator).tolist()
    return [torch.randint(5, 60, (n,), generator=generator).tolist() for n in lengths]


CANDIDATES = torch.arange(5, 60)


def inserted(noisy, data) -> tuple[int, int]:
    """(noise tokens inserted, data tokens) over a batch."""
    return sum(sum(n.is_noise) for n in noisy), sum(map(len, data))


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_uniform_rate_and_round_trip(rate):
    generator = torch.Generator().manual_seed(3)
    data = data_rows(generator)
    noisy = uniform_noise(data, rate, K, CANDIDATES, generator)
    count, positions = inserted(noisy, data)
    # Binomial(positions, rate): within five standard deviations (exact at 0 and 1).
    assert abs(count - rate * positions) <= 5 * math.sqrt(positions * rate * (1 - rate))
    for row, result in zip(data, noisy, strict=True):
        assert apply_actions(result.actions, K) == row
        assert len(result.actions) == len(row) + 2 * sum(result.is_noise)
        for t, flag in enumerate(result.is_noise):
            if flag:  # a noise token: a candidate, not the right token, then a backspace
                assert result.actions[t + 1] == K and result.actions[t] in CANDIDATES
                assert result.actions[t] != result.actions[t + 2]


def test_uniform_is_uniform_over_the_wrong_candidates():
    """Every position chosen; tokens 5..9 as candidates and data token 7 each time: the noise
    is uniform over {5, 6, 8, 9} (chi-square, 3 degrees of freedom, far below its 0.1% tail)."""
    generator = torch.Generator().manual_seed(0)
    noisy = uniform_noise([[7] * 4000], 1.0, K, torch.arange(5, 10), generator)
    noise = torch.tensor(noisy[0].actions)[torch.tensor(noisy[0].is_noise)]
    counts = torch.bincount(noise, minlength=10)[5:].float()
    assert counts[2] == 0 and counts.sum() == 4000
    expected = 1000.0
    chi2 = float((((counts[[0, 1, 3, 4]] - expected) ** 2) / expected).sum())
    assert chi2 < 16.3


def test_determinism_by_seed():
    data = data_rows(torch.Generator().manual_seed(1))

    def draw(seed: int) -> list[list[int]]:
        noisy = uniform_noise(data, 0.3, K, CANDIDATES, torch.Generator().manual_seed(seed))
        return [n.actions for n in noisy]

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_bad_rate_and_candidates():
    generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="rate"):
        uniform_noise([[5]], 1.5, K, CANDIDATES, generator)
    with pytest.raises(ValueError, match="two candidate"):
        uniform_noise([[5]], 0.5, K, torch.tensor([5]), generator)


@pytest.fixture(scope="module")
def model_with_backspace(tmp_path_factory):
    folder = build_tiny_clm(tmp_path_factory.mktemp("clm"), init_scale=5.0)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer, add_backspace(model, tokenizer)


def test_ordinary_ids_exclude_specials_and_backspace(model_with_backspace):
    _, tokenizer, backspace = model_with_backspace
    ids = ordinary_ids(tokenizer)
    assert backspace not in ids and not set(tokenizer.all_special_ids) & set(ids.tolist())
    assert len(ids) == len(tokenizer) - len(set(tokenizer.all_special_ids))


def test_model_noise_follows_the_model(model_with_backspace):
    """2000 copies of one prompt, one data token, rate 1: the noise before it is drawn from the
    model's next-token distribution after the prompt, restricted to the wrong candidates."""
    model, tokenizer, backspace = model_with_backspace
    candidates = ordinary_ids(tokenizer)
    prompt, right = [tokenizer.bos_token_id, 9], 12
    generator = torch.Generator().manual_seed(0)
    noisy = model_noise(
        model, [prompt] * 2000, [[right]] * 2000, 1.0, backspace, candidates, generator
    )
    noise = torch.tensor([n.actions[0] for n in noisy])
    assert all(
        n.actions[1:] == [backspace, right] and n.is_noise == [True, False, False] for n in noisy
    )
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    allowed = torch.full_like(logits, -torch.inf)
    allowed[candidates] = logits[candidates]
    allowed[right] = -torch.inf
    expected = allowed.softmax(-1)
    counts = torch.bincount(noise, minlength=len(expected)).float()
    assert counts[right] == 0 and counts[expected == 0].sum() == 0
    # Chi-square goodness of fit, df = bins - 1: below df + 5 sd for the model's distribution,
    # far above it for the uniform one (the test can tell them apart).
    bins = expected > 0
    df = int(bins.sum()) - 1
    bound = df + 5 * math.sqrt(2 * df)

    def chi2(probs: torch.Tensor) -> float:
        wanted = probs[bins] * len(noise)
        return float(((counts[bins] - wanted) ** 2 / wanted).sum())

    assert chi2(expected) < bound
    assert chi2(bins.float() / bins.sum()) > 2 * bound


def test_model_noise_rate_round_trip_and_layout(model_with_backspace):
    """Batched prompts and data of different lengths: the rate holds, the actions give the data
    back, the seed fixes the draws, and the result lays out for one pass."""
    model, tokenizer, backspace = model_with_backspace
    generator = torch.Generator().manual_seed(2)
    data = data_rows(generator, count=30)
    prompts = [[tokenizer.bos_token_id] * (1 + b % 3) for b in range(len(data))]
    candidates = ordinary_ids(tokenizer)

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return model_noise(model, prompts, data, 0.25, backspace, candidates, g, pad=0)

    noisy = draw(7)
    assert [n.actions for n in noisy] == [n.actions for n in draw(7)]
    count, positions = inserted(noisy, data)
    assert abs(count - 0.25 * positions) <= 5 * math.sqrt(positions * 0.25 * 0.75)
    for row, result in zip(data, noisy, strict=True):
        assert apply_actions(result.actions, backspace) == row
    layout = layout_actions(prompts, [n.actions for n in noisy], backspace, pad=0)
    is_noise = torch.zeros_like(layout.action_mask)
    for b, result in enumerate(noisy):
        is_noise[b, : len(result.is_noise)] = torch.tensor(result.is_noise)
    # Each backspace deletes the noise token just before it.
    assert bool((is_noise[:, :-1] == layout.is_backspace[:, 1:]).all())
