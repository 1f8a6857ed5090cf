"""Sharded sampling: a shard is a run of its own chains with its own seed; shards merge into one
result; under --until-rhat every shard stops after the same sweep, judged over all chains."""

from __future__ import annotations

import copy
import dataclasses
import threading

import pytest
import torch

from textebm.data.shards import Shard, shard_seed
from textebm.energies import MaskedLMEnergy
from textebm.errors import UsageError
from textebm.eval.mcmc import split_rhat
from textebm.samplers import SampleConfig, build_kernel, build_start, merge, sample
from textebm.samplers.driver import run_chains
from textebm.samplers.sharded import ProcessPool

BASE = {"chains": 5, "sweeps": 4, "burn_in": 1, "thin": 2, "seed": 3}


@pytest.fixture
def energy(wordlevel):
    return MaskedLMEnergy(*wordlevel)


def _run(energy, shard=None, pool=None, **fields):
    return sample(
        SampleConfig(**{**BASE, **fields}), energy, progress=False, shard=shard, pool=pool
    )


def test_shard_zero_of_one_is_the_unsharded_run(energy):
    whole, alone = _run(energy, length="3-5"), _run(energy, Shard(0, 1), length="3-5")
    assert alone.records == whole.records
    assert torch.equal(alone.trace, whole.trace) and alone.diagnostics["shard"]["seed"] == 3


@pytest.mark.parametrize("rank", [0, 1])
def test_a_shard_is_a_smaller_run_with_the_shard_seed(energy, rank):
    """With one length for all chains, shard r of 2 (chains 0-2 or 3-4 of 5) is a run of that
    many chains seeded shard_seed(3, r), its chains renumbered: an independent reference."""
    part = _run(energy, Shard(rank, 2), length="4")
    chains = range(0, 3) if rank == 0 else range(3, 5)
    reference = _run(energy, length="4", chains=len(chains), seed=shard_seed(3, rank))
    assert [r["chain"] for r in part.records] == [
        chains.start + r["chain"] for r in reference.records
    ]
    strip = [{k: v for k, v in r.items() if k != "chain"} for r in reference.records]
    assert [{k: v for k, v in r.items() if k != "chain"} for r in part.records] == strip
    assert torch.equal(part.trace, reference.trace)


def test_merged_shards_keep_the_whole_runs_lengths_and_judge_all_chains(energy):
    whole = _run(energy, length="3-5", thin=1)
    parts = [_run(energy, Shard(r, 2), length="3-5", thin=1) for r in range(2)]
    merged = merge(parts)
    assert merged.lengths == whole.lengths  # lengths are drawn for all chains, then cut
    assert merged.records == parts[0].records + parts[1].records
    assert sorted({r["chain"] for r in merged.records}) == list(range(5))
    assert merged.tokens.shape[:2] == (4, 5) and merged.trace.shape == (5, 5)
    # per length: split R-hat over all chains of that length, recomputed from the records
    energies = torch.tensor([r["energy"] for r in merged.records])
    sweeps = torch.cat([energies[:12].reshape(4, 3), energies[12:].reshape(4, 2)], dim=1).T
    diagnostics = merged.diagnostics
    for group in diagnostics["energy_by_length"]:
        chains = [c for c in range(5) if whole.lengths[c] == group["length"]]
        assert group["chains"] == len(chains)
        if len(chains) > 1:
            assert group["split_rhat"] == pytest.approx(split_rhat(sweeps[chains]), rel=1e-4)
    rates = [rate for p in parts for rate in p.diagnostics["acceptance_rate_per_chain"]]
    assert diagnostics["acceptance_rate"] == pytest.approx(sum(rates) / 5)
    assert diagnostics["chains"] == 5 and "shard" not in diagnostics
    shards = diagnostics["processes"]["shards"]
    assert [s["chains"] for s in shards] == [[0, 3], [3, 5]]
    assert [s["seed"] for s in shards] == [3, shard_seed(3, 1)]
    assert diagnostics["cost"]["calls"] == sum(p.diagnostics["cost"]["calls"] for p in parts)


def test_mask_predict_shards_merge(energy):
    parts = [_run(energy, Shard(r, 2), length="4", sampler="mask-predict") for r in range(2)]
    merged = merge(parts)
    assert [r["chain"] for r in merged.records] == list(range(5))
    masked = [p.diagnostics["masked_per_iteration"] for p in parts]
    assert merged.diagnostics["masked_per_iteration"] == [
        a + b for a, b in zip(*masked, strict=True)
    ]


def test_fewer_chains_than_shards_is_a_usage_error(energy):
    with pytest.raises(UsageError, match="without a chain"):
        _run(energy, Shard(2, 3), length="4", chains=2)


class _Threads:
    """W threads standing in for W processes: a barrier-synchronised all-gather."""

    def __init__(self, world: int) -> None:
        self.world, self.barrier, self.slots = world, threading.Barrier(world), [None] * world

    def member(self, rank: int):
        group = self

        class Member:
            is_main = rank == 0

            def gather(self, items):
                group.barrier.wait()
                group.slots[rank] = list(items)
                group.barrier.wait()
                out = [x for slot in group.slots for x in slot]
                group.barrier.wait()
                return out

            def largest(self, value):
                return max(self.gather([value]))

        return Member()


def test_until_rhat_stops_every_shard_together_judged_over_all_chains(wordlevel):
    """Length 3-4 over 6 chains: shard 1 (chains 3-5) holds one chain of a length that shard 0
    also holds, so only the pooled rule can judge it; both shards stop after the same sweep,
    and each equals a plain run of that many sweeps (the rule draws no random numbers)."""
    fields = {"length": "3-4", "chains": 6, "sweeps": 4, "burn_in": 2, "thin": 1, "seed": 0}
    rule = {"until_rhat": 1.3, "check_every": 2, "max_sweeps": 40}
    config = SampleConfig(**fields, **rule)
    threads, results = _Threads(2), [None, None]

    def work(rank):
        model, tokenizer = wordlevel
        energy = MaskedLMEnergy(copy.deepcopy(model), tokenizer)  # its hooks are per model
        pool = ProcessPool(threads.member(rank))
        results[rank] = sample(config, energy, progress=False, shard=Shard(rank, 2), pool=pool)

    workers = [threading.Thread(target=work, args=(rank,)) for rank in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(result is not None for result in results)
    lengths = results[0].lengths + results[1].lengths
    assert any(lengths[3:].count(k) == 1 for k in set(lengths[3:])), "pick a seed that splits"
    stops = [r.diagnostics["stopping"] for r in results]
    assert stops[0] == stops[1]  # same checks, same R-hats, same end
    merged = merge(results)
    done = stops[0]["sweeps"]
    worst = merged.diagnostics["energy_worst_length"]["split_rhat"]
    assert stops[0]["checks"][-1]["worst_split_rhat"] == pytest.approx(worst, rel=1e-6)
    # this seed converges after failed checks, so the pooled rule really decided
    assert stops[0]["converged"] and len(stops[0]["checks"]) > 1, stops[0]
    assert worst <= 1.3
    assert all(c["worst_split_rhat"] > 1.3 for c in stops[0]["checks"][:-1])
    alone = SampleConfig(**{**fields, "sweeps": done})  # no rule: exactly `done` sweeps
    energy = MaskedLMEnergy(*wordlevel)
    for rank, result in enumerate(results):
        plain = sample(alone, energy, progress=False, shard=Shard(rank, 2))
        assert plain.records == result.records


def test_without_a_pool_a_shard_with_a_lone_length_cannot_use_the_rule(energy):
    fields = {"length": "3-4", "chains": 6, "sweeps": 4, "burn_in": 2, "thin": 1, "seed": 0}
    config = SampleConfig(**fields, until_rhat=1.3, max_sweeps=8)
    with pytest.raises(UsageError, match="in this shard"):
        sample(config, energy, progress=False, shard=Shard(1, 2))


def test_the_time_budget_counts_the_slowest_process(energy):
    """A pool whose slowest process is out of time ends the run at the minimum, however fast
    this one is."""

    class SlowElsewhere:
        def energies(self, post, keys):
            return post, keys

        def minutes(self, minutes):
            return max(minutes, 1e6)

    config = SampleConfig(length="4", chains=2, sweeps=3, burn_in=1, thin=1)
    stop = dataclasses.replace(config, until_rhat=1.01, time_budget=30.0).stop_rule()
    start = build_start(config, energy)
    kernel = build_kernel(config, energy)
    generator = torch.Generator().manual_seed(0)
    state, _ = kernel.init(*start.astuple(), generator)
    samples = run_chains(
        kernel, state, generator, 3, 1, 1, progress=False, stop=stop, pool=SlowElsewhere()
    )
    assert samples.diagnostics["stopping"]["stopped_by"] == "time_budget"
    assert samples.diagnostics["stopping"]["sweeps"] == 3
