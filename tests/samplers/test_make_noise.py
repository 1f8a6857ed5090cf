"""mlm-fill noise: the masked fraction per side, reproducibility, pairing, and its config."""

from __future__ import annotations

import pytest
import torch

from textebm.data.labelled import LabelledExample
from textebm.energies.masked_lm import MaskedLMEnergy
from textebm.errors import UsageError
from textebm.samplers.make_noise import NoiseConfig, choose_masks, mask_and_fill, mlm_fill_noise
from textebm.samplers.proposals import Proposal

ROWS = [
    LabelledExample("the cat sat on the mat .", 0),
    LabelledExample("she reads a book today in the park", 1),
    LabelledExample("dogs", 0),
]
PAIRS = [
    LabelledExample("the cat sat on the mat .", 0, "dogs"),
    LabelledExample("we saw them yesterday", 1, "the quick bird sang near the green river"),
]


@pytest.fixture(scope="module")
def source(wordlevel):
    model, tokenizer = wordlevel
    return MaskedLMEnergy(model, tokenizer)


def test_choose_masks_takes_the_fraction_of_each_side():
    """10 tokens on side 0 and 3 on side 1: round(0.4 x 10) = 4 and round(0.4 x 3) = 1; a
    one-token side still gets its one mask; special and padding positions (-1) never."""
    segments = torch.tensor([[-1] + [0] * 10 + [-1] + [1] * 3 + [-1], [-1, 0] + [-1] * 14])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        mask = choose_masks(segments, 0.4, generator)
        assert int((mask & (segments == 0))[0].sum()) == 4
        assert int((mask & (segments == 1))[0].sum()) == 1
        assert mask[1].tolist() == [False, True] + [False] * 14
        assert not (mask & (segments == -1)).any()


def test_choose_masks_is_uniform():
    """Each of 5 positions is masked with probability 2/5 (0.4 x 5 = 2 masks)."""
    segments = torch.zeros((4000, 5), dtype=torch.long)
    mask = choose_masks(segments, 0.4, torch.Generator().manual_seed(1))
    assert (mask.sum(dim=1) == 2).all()
    assert torch.allclose(mask.float().mean(dim=0), torch.full((5,), 0.4), atol=0.03)


@pytest.mark.parametrize("sequential", [False, True])
def test_mask_and_fill_changes_only_masked_positions(source, sequential):
    tokenizer = source.tokenizer
    encoded = tokenizer(["she reads a book today in the park with her children"])
    tokens = torch.tensor(encoded["input_ids"])
    segments = torch.tensor([[-1 if s is None else s for s in encoded.sequence_ids(0)]])
    attention = torch.ones_like(tokens)
    generator = torch.Generator().manual_seed(0)
    filled, mask = mask_and_fill(
        source, Proposal(top_k=5), tokens, attention, segments, 0.4, generator, sequential
    )
    assert int(mask.sum()) == 4  # round(0.4 x 11)
    assert torch.equal(filled[~mask], tokens[~mask])
    specials = torch.tensor(tokenizer.all_special_ids)
    assert not torch.isin(filled[mask], specials).any()


def test_reproducible_with_a_seed(source):
    config = NoiseConfig(ratio=3, seed=7)
    first = mlm_fill_noise(source, ROWS, config, max_length=32)
    assert mlm_fill_noise(source, ROWS, config, max_length=32) == first
    assert mlm_fill_noise(source, ROWS, NoiseConfig(ratio=3, seed=8), max_length=32) != first
    assert len(first) == 9  # K copies per example, example-major


def test_noise_keeps_most_tokens_and_the_length(source):
    """Word-level tokens: 60% of each text's words survive in place, the rest are redrawn."""
    noise = mlm_fill_noise(source, ROWS, NoiseConfig(ratio=4, seed=0), max_length=32)
    for index, text in enumerate(noise):
        original = ROWS[index // 4].text.split()
        words = text.text.split()
        assert len(words) == len(original)
        kept = sum(a == b for a, b in zip(words, original, strict=True))
        assert kept >= len(original) - max(1, round(0.4 * len(original)))
        assert text.text_pair is None


def test_pairs_keep_their_pairing(source):
    noise = mlm_fill_noise(source, PAIRS, NoiseConfig(ratio=2, seed=0), max_length=32)
    assert len(noise) == 4
    for index, text in enumerate(noise):
        original = PAIRS[index // 2]
        assert text.text_pair is not None
        # Each side stays its own length: the pair is masked and decoded side by side.
        assert len(text.text.split()) == len(original.text.split())
        assert len(text.text_pair.split()) == len(original.text_pair.split())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ratio": 0}, "--ratio"),
        ({"mask_fraction": 0.0}, "--mask-fraction"),
        ({"mask_fraction": 1.5}, "--mask-fraction"),
        ({"top_k": -1}, "--top-k"),
        ({"temperature": 0.0}, "--temperature"),
        ({"fill": "both"}, "unknown fill"),
        ({"method": "gpt"}, "unknown method"),
        ({"ratio": "2"}, "ratio must be int"),
    ],
)
def test_bad_config(fields, message):
    with pytest.raises(UsageError, match=message):
        NoiseConfig(**fields)
