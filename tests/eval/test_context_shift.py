import pytest
import torch

from textebm.eval.context_shift import context_shift, shuffle_within_rows


def _ordinary(lengths: list[int], width: int) -> torch.Tensor:
    """[CLS] w1 .. wn [SEP] then padding: ordinary positions 1..n."""
    mask = torch.zeros(len(lengths), width, dtype=torch.bool)
    for row, n in enumerate(lengths):
        mask[row, 1 : n + 1] = True
    return mask


def test_shuffle_permutes_only_ordinary_positions():
    ordinary = _ordinary([5, 1, 3], 8)
    source = shuffle_within_rows(ordinary, torch.Generator().manual_seed(0))
    for row in range(3):
        moved = source[row][ordinary[row]]
        assert sorted(moved.tolist()) == ordinary[row].nonzero().squeeze(1).tolist()
        fixed = (~ordinary[row]).nonzero().squeeze(1)
        assert source[row][fixed].tolist() == fixed.tolist()
    again = shuffle_within_rows(ordinary, torch.Generator().manual_seed(0))
    assert torch.equal(source, again)


def test_a_context_free_energy_does_not_shift():
    table = torch.randn(50)
    ids = torch.randint(0, 50, (3, 9))
    ordinary = _ordinary([7, 4, 2], 9)
    shift, spread, count = context_shift(
        lambda input_ids, mask: table[input_ids], ids, torch.ones_like(ids), ordinary,
        torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert shift == pytest.approx(0.0, abs=1e-6) and count == 13 and spread > 0


def test_shift_matches_a_hand_computed_case():
    # E(x)_t = token id + 10 * (id of the token on its left): a shuffle moves it.
    def energy_of(input_ids, mask):
        left = torch.cat([torch.zeros_like(input_ids[:, :1]), input_ids[:, :-1]], 1)
        return (input_ids + 10 * left).float()

    ids = torch.tensor([[0, 1, 2, 3, 9]])  # [CLS] 1 2 3 [SEP]
    ordinary = torch.tensor([[False, True, True, True, False]])
    source = shuffle_within_rows(ordinary, torch.Generator().manual_seed(3))
    shuffled = ids.gather(1, source)[0].tolist()
    assert shuffled != ids[0].tolist()  # the seed moves something

    # naive: each word's energy in the original line and where it stands in the shuffled one
    def energies(line):
        return {line[t]: line[t] + 10 * line[t - 1] for t in range(1, 4)}

    before, after = energies(ids[0].tolist()), energies(shuffled)
    expected = sum(abs(after[w] - before[w]) for w in (1, 2, 3))
    mean = (1 + 12 + 23) / 3
    expected_spread = sum((e - mean) ** 2 for e in (1, 12, 23))
    generator = torch.Generator().manual_seed(3)  # the same shuffle inside
    shift, spread, count = context_shift(energy_of, ids, torch.ones_like(ids), ordinary, generator)
    assert expected > 0 and shift == pytest.approx(expected)
    assert spread == pytest.approx(expected_spread) and count == 3


def test_rows_with_fewer_than_two_tokens_are_left_out():
    ids = torch.tensor([[0, 4, 9, 9], [0, 5, 6, 9]])
    ordinary = torch.tensor([[False, True, False, False], [False, True, True, False]])
    _, _, count = context_shift(
        lambda input_ids, mask: input_ids.float(), ids, torch.ones_like(ids), ordinary,
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert count == 2
