"""The one chain loop: burn-in, thinning, annealing and progress, for any kernel.

A kernel has `step(generator, state) -> (state, info)`, `energy_of(state)`, `block_size`,
`at_temperature(tau)` and `energy` (whose `cost` counts the work). `run_chains` runs
`burn_in + sweeps` sweeps, keeps the state after every `thin`-th sweep past the burn-in, and
reports acceptance, novel transitions (accepted and different: the paper's telling statistic),
energy traces, ESS and R-hat of the energy across chains, and per group of chains of one length.
With a `StopRule` it runs on until the energy's R-hat is low in every length group, or a cap;
with a `Pool` too, the chains of every process are judged together and all stop at one sweep.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from textebm.energies.base import Energy
from textebm.eval.mcmc import ess_bulk, rank_rhat, split_rhat
from textebm.samplers.convergence import (
    StopRule,
    by_length,
    finite_or_none,
    group_split_rhats,
    single_chain_lengths,
    worst,
)
from textebm.samplers.state import ChainState, StepInfo, steps_per_sweep

_clock = time.perf_counter  # wall clock of the time budget; a test may replace it

Schedule = Callable[[int], float]


class Kernel(Protocol):
    """What `run_chains` needs of a kernel (`MetropolisHastings`, `DegenerateGibbs`, ...)."""

    energy: Energy
    block_size: int

    @property
    def tau(self) -> float: ...

    def at_temperature(self, temperature: float) -> Kernel: ...

    def energy_of(self, state: ChainState) -> torch.Tensor: ...

    def step(
        self, generator: torch.Generator, state: ChainState
    ) -> tuple[ChainState, StepInfo]: ...


class Pool(Protocol):
    """The chains of the other processes of a sharded run, for a stopping rule they share.

    Every process calls these at the same sweeps (the rule's checks depend on the sweep count
    only), so they may be collective operations.
    """

    def energies(self, post: torch.Tensor, keys: list[int]) -> tuple[torch.Tensor, list[int]]:
        """(chains, draws) energies and (chains,) lengths of this process's chains -> those of
        every process's chains, in rank order."""
        ...

    def minutes(self, minutes: float) -> float:
        """This process's elapsed minutes -> the largest over processes."""
        ...


def geometric_schedule(start: float, end: float, sweeps: int) -> Schedule:
    """Temperature start at sweep 0 to end at sweep `sweeps - 1`, geometrically; then end."""
    if not (start > 0 and end > 0):
        raise ValueError(f"temperatures must be positive, not {start} and {end}")

    def temperature(sweep: int) -> float:
        fraction = min(sweep / max(sweeps - 1, 1), 1.0)
        return start * (end / start) ** fraction

    return temperature


@dataclass
class Samples:
    """What `run_chains` returns.

    tokens: (kept, chains, length) int64, the kept states (special tokens included).
    sweeps: (kept,) the sweep after which each was kept, 1-based, counting the burn-in.
    energies: (kept, chains) their untempered energies.
    trace: (burn_in + sweeps, chains) the energy after every sweep (sweeps: those run).
    state: the final state.
    diagnostics: acceptance, novel transitions, ESS, R-hat, cost, time (JSON-ready).
    """

    tokens: torch.Tensor
    sweeps: list[int]
    energies: torch.Tensor
    trace: torch.Tensor
    state: ChainState
    diagnostics: dict = field(default_factory=dict)


def _highest(values) -> float | None:
    """The largest value, or None when one is NaN (too few draws to tell)."""
    values = list(values)
    return None if any(math.isnan(v) for v in values) else max(values)


def run_chains(
    kernel: Kernel,
    state: ChainState,
    generator: torch.Generator,
    sweeps: int,
    burn_in: int = 0,
    thin: int = 1,
    schedule: Schedule | None = None,
    progress: bool = True,
    stop: StopRule | None = None,
    lengths: Sequence[int] | None = None,
    pool: Pool | None = None,
) -> Samples:
    """Run every chain for `burn_in + sweeps` sweeps and keep every `thin`-th after burn-in.

    schedule: target temperature of each sweep (0-based, burn-in included); None keeps the
        kernel's (past the schedule's end, its last temperature). A progress bar shows when
        `progress` and the CI variable is unset.
    stop: run on past `sweeps` (then the minimum) until the energy's split R-hat is low in every
        length group, or a cap (`StopRule`); None runs exactly `sweeps`.
    lengths: (chains,) the length each chain is grouped by for R-hat; None: its real tokens,
        special tokens included (`attention_mask` summed). Only chains of one length compare.
    pool: with `stop`, judge R-hat over the chains of every process and the time budget by the
        slowest, so that all processes stop after the same sweep; the caller checks that every
        length has 2 or more chains over all processes. The diagnostics cover this process's
        chains only (`energy_diagnostics` recomputes them over all).
    """
    if sweeps < 1 or burn_in < 0 or thin < 1:
        raise ValueError(f"need sweeps >= 1, burn_in >= 0, thin >= 1: {sweeps}, {burn_in}, {thin}")
    chains = state.tokens.shape[0]
    keys = state.attention_mask.sum(dim=1).tolist() if lengths is None else list(lengths)
    if len(keys) != chains:
        raise ValueError(f"{len(keys)} lengths for {chains} chains")
    if stop is not None:
        if stop.max_sweeps is not None and stop.max_sweeps < sweeps:
            raise ValueError(f"max_sweeps {stop.max_sweeps} is less than the minimum {sweeps}")
        alone = single_chain_lengths(keys) if pool is None else []
        if alone:
            raise ValueError(f"R-hat needs 2 or more chains of each length; {alone} have one")
    from tqdm.auto import tqdm

    per_sweep = steps_per_sweep(state.free, kernel.block_size)
    cap = sweeps if stop is None else stop.max_sweeps  # None: only the clock ends it
    longest = None if cap is None else burn_in + cap
    counts = {name: torch.zeros(chains, device=state.tokens.device) for name in ("acc", "nov")}
    burn_counts = {name: torch.zeros_like(counts["acc"]) for name in ("acc", "nov")}
    kept, kept_sweeps, kept_energy, trace, temperatures = [], [], [], [], []
    checks: list[dict] = []
    stopped_by = None
    cost_before = _costs(kernel)
    started = _clock()
    bar = tqdm(total=longest, unit="sweep", disable=not progress or bool(os.environ.get("CI")))
    sweep = 0
    while True:
        current = kernel if schedule is None else kernel.at_temperature(schedule(sweep))
        temperatures.append(current.tau)
        tally = burn_counts if sweep < burn_in else counts
        for _ in range(per_sweep):
            state, info = current.step(generator, state)
            tally["acc"] += info.accepted
            tally["nov"] += info.novel
        energy = current.energy_of(state)
        trace.append(energy)
        if sweep >= burn_in and (sweep + 1 - burn_in) % thin == 0:
            kept.append(state.tokens)
            kept_sweeps.append(sweep + 1)
            kept_energy.append(energy)
        bar.update(1)
        sweep += 1
        done = sweep - burn_in
        if stop is None:
            if done >= sweeps:
                break
            continue
        if stop.due(done, sweeps):  # reads the trace only: no random numbers drawn
            post, pooled_keys = _post(trace, burn_in), keys
            if pool is not None:
                post, pooled_keys = pool.energies(post, keys)
            rhats = group_split_rhats(post, pooled_keys)
            checks.append({"sweep": done, "worst_split_rhat": _highest(rhats.values())})
            if stop.converged(rhats):
                stopped_by = "converged"
                break
        minutes = (_clock() - started) / 60
        if pool is not None and stop.time_budget is not None:
            minutes = pool.minutes(minutes)  # every process stops when the slowest is out of time
        stopped_by = stop.cap(done, sweeps, minutes)
        if stopped_by is not None:
            break
    bar.close()
    seconds = _clock() - started
    minimum, sweeps = sweeps, sweep - burn_in  # sweeps run: past the minimum with a rule
    trace = torch.stack(trace).float().cpu()
    post = trace[burn_in:].T  # (chains, draws)
    steps = sweeps * per_sweep
    diagnostics = {
        "chains": chains,
        "sweeps": sweeps,
        "burn_in": burn_in,
        "thin": thin,
        "steps_per_sweep": per_sweep,
        "block_size": kernel.block_size,
        "temperature": {"first": temperatures[0], "last": temperatures[-1]},
        "acceptance_rate": float(counts["acc"].sum()) / (steps * chains),
        "novel_transition_rate": float(counts["nov"].sum()) / (steps * chains),
        "acceptance_rate_per_chain": (counts["acc"] / steps).tolist(),
        "novel_transition_rate_per_chain": (counts["nov"] / steps).tolist(),
        "burn_in_acceptance_rate": _rate(burn_counts["acc"], burn_in * per_sweep * chains),
        **energy_diagnostics(post, keys),
        "cost": {k: after - cost_before[k] for k, after in _costs(kernel).items()},
        "seconds": seconds,
        "sweeps_per_second": (burn_in + sweeps) / seconds if seconds > 0 else None,
    }
    if stop is not None:
        diagnostics["stopping"] = {
            **stop.settings(),
            "min_sweeps": minimum,
            "stopped_by": stopped_by,
            "converged": stopped_by == "converged",
            "sweeps": sweeps,
            "checks": checks,
        }
    if not kept:  # thin > sweeps
        kept, kept_energy = [state.tokens[:0]], [trace[0, :0]]
    return Samples(
        tokens=torch.stack(kept).cpu().reshape(len(kept_sweeps), *state.tokens.shape),
        sweeps=kept_sweeps,
        energies=torch.stack(kept_energy).float().cpu().reshape(len(kept_sweeps), chains),
        trace=trace,
        state=state,
        diagnostics=diagnostics,
    )


def energy_diagnostics(post: torch.Tensor, keys: Sequence[int]) -> dict:
    """Mean, ESS and R-hat of the energy, over all chains and per length group (JSON-ready).

    post: (chains, draws) the energy after every sweep past the burn-in; keys: (chains,) lengths.
    """
    groups = by_length(post, keys)
    return {
        "energy_mean": float(post.mean()),
        "energy_ess_bulk": finite_or_none(ess_bulk(post)),
        "energy_rhat": finite_or_none(rank_rhat(post)),
        "energy_split_rhat": finite_or_none(split_rhat(post)),
        "energy_by_length": groups,
        "energy_worst_length": worst(groups),
        "energy_by_length_note": "R-hat and ESS of the energy after every sweep past the "
        "burn-in, over the chains of one length (energies of different lengths are on "
        "different scales); R-hat is null for a group of one chain or under 4 sweeps",
    }


def _post(trace: list[torch.Tensor], burn_in: int) -> torch.Tensor:
    """(chains, draws) energies past the burn-in, converted as the final diagnostics convert
    them, so that the check and the reported R-hat are the same number."""
    return torch.stack(trace).float().cpu()[burn_in:].T


def _rate(count: torch.Tensor, total: int) -> float | None:
    return float(count.sum()) / total if total else None


def _costs(kernel: Kernel) -> dict[str, int]:
    """Sequences, calls and tokens so far, over the target and the proposal source."""
    sources = {id(kernel.energy): kernel.energy}
    source = getattr(kernel, "source", None)
    if source is not None:
        sources[id(source)] = source
    totals = {"sequences": 0, "calls": 0, "tokens": 0}
    for energy in sources.values():
        cost = getattr(energy, "cost", None)
        if cost is not None:
            for key in totals:
                totals[key] += getattr(cost, key)
    return totals
