"""`sample` on many processes: each runs a contiguous shard of the chains, the main one merges.

    processes = Processes(cpu=True)                 # under torchrun / accelerate launch
    result = sample_across(config, processes)       # the merged result on rank 0, None elsewhere

Process r of W runs `sample(config, shard=Shard(r, W))`: chains `contiguous(chains, r, W)` with a
generator seeded `shard_seed(seed, r)`. The merged records are the shards' records concatenated in
rank order (each shard's in (sweep, chain) order, chains numbered as in the whole run), so they
equal the concatenation of the W one-process runs `textebm sample --shard r/W`.

--until-rhat: all processes stop together. The rule is judged as on one process over all chains:
every check gathers every process's energy trace and takes each length group's split R-hat over
all its chains, wherever they ran, and the time budget counts the slowest process. The stop draws
no random numbers, so a W-process run that stopped after N sweeps equals the W shard runs with
`--sweeps N` and no rule. A lone `--shard r/W` run judges its own chains only.

The merged diagnostics are recomputed over all chains (energy mean, ESS, R-hat overall and per
length group; acceptance as the mean of the per-chain rates; costs summed; seconds of the slowest
process); `processes` lists each shard's chains, seed, steps per sweep and seconds.
"""

from __future__ import annotations

import torch

from textebm.data.shards import Processes
from textebm.samplers.api import SampleResult, sample
from textebm.samplers.config import SampleConfig
from textebm.samplers.driver import energy_diagnostics


class ProcessPool:
    """The `Pool` of a run's processes: gathers energy traces and clocks across them."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes

    def energies(self, post: torch.Tensor, keys: list[int]) -> tuple[torch.Tensor, list[int]]:
        parts = self.processes.gather([(post.float().cpu(), list(keys))])
        return torch.cat([p for p, _ in parts]), [k for _, ks in parts for k in ks]

    def minutes(self, minutes: float) -> float:
        return self.processes.largest(minutes)


def sample_across(
    config: SampleConfig, processes: Processes, progress: bool = True
) -> SampleResult | None:
    """Run this process's shard; return the merged result on the main process, None elsewhere.

    Device: `config.device`, or the process's own (cuda:LOCAL_RANK under a GPU launch).
    """
    import dataclasses

    if config.device is None:
        config = dataclasses.replace(config, device=str(processes.device))
    pool = ProcessPool(processes) if config.stop_rule() is not None else None
    result = sample(
        config, progress=progress and processes.is_main, shard=processes.shard, pool=pool
    )
    parts = processes.gather([result])
    return merge(parts) if processes.is_main else None


def merge(parts: list[SampleResult]) -> SampleResult:
    """The shards' results, in rank order, as one result over all their chains.

    Every shard must have run the same sweeps (as they do under one launch).
    """
    first = parts[0]
    if len({(p.trace.shape[0], p.tokens.shape[0]) for p in parts}) > 1:
        raise ValueError("shards that ran different numbers of sweeps cannot be merged")
    width = max(p.tokens.shape[2] for p in parts)
    tokens = torch.cat([_widen(p.tokens, width, first.pad_id) for p in parts], dim=1)
    trace = torch.cat([p.trace for p in parts], dim=1)
    lengths = [k for p in parts for k in p.lengths]
    diagnostics = _merge_diagnostics([p.diagnostics for p in parts], trace, first.burn_in, lengths)
    return SampleResult(
        records=[r for p in parts for r in p.records],
        tokens=tokens,
        energies=torch.cat([p.energies for p in parts], dim=1),
        trace=trace,
        burn_in=first.burn_in,
        diagnostics=diagnostics,
        lengths=lengths,
        pad_id=first.pad_id,
    )


def _widen(tokens: torch.Tensor, width: int, pad: int) -> torch.Tensor:
    """(kept, chains, length) -> (kept, chains, width), right-padded with `pad`."""
    extra = width - tokens.shape[2]
    return torch.nn.functional.pad(tokens, (0, extra), value=pad) if extra else tokens


def _merge_diagnostics(shards: list[dict], trace: torch.Tensor, burn_in: int, lengths) -> dict:
    first = shards[0]
    out = {key: value for key, value in first.items() if key != "shard"}
    devices = sorted({d["settings"]["device"] for d in shards})
    out["settings"] = {**first["settings"], "device": devices[0] if len(devices) == 1 else devices}
    out["cost"] = {key: sum(d["cost"][key] for d in shards) for key in first["cost"]}
    out["seconds"] = max(d["seconds"] for d in shards)
    if "init" in first:  # chains
        out["init"] = {**first["init"]}
        for key in ("masks_filled_by_proposals", "fill_passes"):  # work: summed
            if key in first["init"]:
                out["init"][key] = sum(d["init"][key] for d in shards)
    if "acceptance_rate_per_chain" in first:
        out.update(_chain_rates(shards))
        out.update(energy_diagnostics(trace[burn_in:].T, lengths))
        out["steps_per_sweep"] = max(d["steps_per_sweep"] for d in shards)
        seconds = out["seconds"]
        out["sweeps_per_second"] = (burn_in + first["sweeps"]) / seconds if seconds > 0 else None
    else:  # Mask-Predict
        masked = [d["masked_per_iteration"] for d in shards]
        out["masked_per_iteration"] = [sum(column) for column in zip(*masked, strict=True)]
        out["energy_mean"] = float(trace[-1].mean())
    out["processes"] = {
        "count": len(shards),
        "shards": [
            {
                **{k: v for k, v in d["shard"].items() if k != "note"},
                "steps_per_sweep": d.get("steps_per_sweep"),
                "seconds": d["seconds"],
            }
            for d in shards
        ],
        "note": "process r ran chains [start, stop) with a generator seeded shard_seed(seed, r); "
        "records are the shards' in rank order; R-hat, ESS and the energy mean are over all "
        "chains (per length: all chains of that length, on any process); acceptance is the mean "
        "of the per-chain rates; costs are summed; seconds are the slowest process's",
    }
    return out


def _chain_rates(shards: list[dict]) -> dict:
    """Acceptance and novel-transition rates over all chains: each chain weighs the same (shards
    may take different steps per sweep, so this is not a ratio of summed counts)."""
    out: dict = {}
    for name in ("acceptance_rate", "novel_transition_rate"):
        per_chain = [rate for d in shards for rate in d[f"{name}_per_chain"]]
        out[f"{name}_per_chain"] = per_chain
        out[name] = sum(per_chain) / len(per_chain)
    burn = [(d["burn_in_acceptance_rate"], d["chains"]) for d in shards]
    if all(rate is not None for rate, _ in burn):
        out["burn_in_acceptance_rate"] = sum(r * n for r, n in burn) / sum(n for _, n in burn)
    out["chains"] = sum(d["chains"] for d in shards)
    return out
