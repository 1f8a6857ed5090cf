"""Shard ranges, shard seeds and the --shard spelling."""

from __future__ import annotations

import pytest

from textebm.data.shards import Processes, Shard, contiguous, parse_shard, shard_seed, strided
from textebm.errors import UsageError

SPLITS = [(10, 3), (7, 2), (5, 5), (3, 4), (0, 2), (1, 1), (100, 7)]


@pytest.mark.parametrize(("total", "world"), SPLITS)
def test_contiguous_blocks_cover_every_item_once_in_order(total, world):
    blocks = [contiguous(total, rank, world) for rank in range(world)]
    assert [i for block in blocks for i in block] == list(range(total))  # once each, in order
    sizes = [len(block) for block in blocks]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the longer blocks come first


def test_contiguous_by_hand():
    assert [contiguous(10, r, 3) for r in range(3)] == [range(0, 4), range(4, 7), range(7, 10)]
    three_of_four = [range(0, 1), range(1, 2), range(2, 3), range(3, 3)]  # the last is empty
    assert [contiguous(3, r, 4) for r in range(4)] == three_of_four


@pytest.mark.parametrize(("total", "world"), SPLITS)
def test_strided_shards_cover_every_item_once(total, world):
    items = sorted(i for rank in range(world) for i in strided(total, rank, world))
    assert items == list(range(total))


@pytest.mark.parametrize(("rank", "world"), [(2, 2), (-1, 2), (0, 0)])
def test_bad_rank_is_a_value_error(rank, world):
    with pytest.raises(ValueError, match="rank"):
        contiguous(5, rank, world)
    with pytest.raises(ValueError, match="rank"):
        Shard(rank, world)


def _splitmix64_stream(state: int, n: int) -> list[int]:
    """SplitMix64 as published (Vigna, splitmix64.c): state += golden; mix; a naive reference."""
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) % 2**64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        out.append(z ^ (z >> 31))
    return out


def test_shard_seed_rank_zero_keeps_the_seed_and_others_follow_splitmix64():
    assert _splitmix64_stream(0, 1) == [0xE220A8397B1DCDAF]  # the published first output
    for seed in (0, 1, 42, 2**40 + 3):
        assert shard_seed(seed, 0) == seed
        stream = _splitmix64_stream(seed, 5)
        # rank r > 0: output r of the stream seeded `seed`, cut to 63 bits
        assert [shard_seed(seed, r) for r in range(1, 5)] == [v >> 1 for v in stream[1:5]]
    seeds = {shard_seed(seed, r) for seed in range(20) for r in range(8)}
    assert len(seeds) == 160  # no two (seed, rank) pairs share a generator seed
    assert all(0 <= s < 2**63 for s in seeds)
    assert Shard(3, 4).seed(7) == shard_seed(7, 3)


def test_parse_shard():
    assert parse_shard("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    assert parse_shard(" 0 / 1 ") == Shard(0, 1)
    for bad in ("3/3", "1/0", "a/b", "1", "-1/2", "1/2/3"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


def test_one_process_gathers_its_own_items():
    processes = Processes(cpu=True)
    assert (processes.rank, processes.world, processes.is_main) == (0, 1, True)
    assert processes.shard == Shard(0, 1)
    assert processes.gather([3, "a"]) == [3, "a"]
    assert processes.largest(2.5) == 2.5
