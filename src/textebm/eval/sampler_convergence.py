"""What a `textebm sample` run's diagnostics say about convergence, read for a results table.

`samplers.driver.run_chains` writes, in NAME.diagnostics.json, the sweeps run past the burn-in,
the energy's R-hat per length group (`energy_by_length`, `energy_worst_length`) and, with
`--until-rhat`, a `stopping` block: what ended the run and every check's worst split R-hat.
A table should quote the worst per-length split R-hat, never the pooled one (`energy_rhat`):
chains of different lengths have energies on different scales, so R-hat across all of them
measures the lengths, not the mixing (the issue-4 PTB table's 1.4-6.7 was that).

    summary = read_convergence(json.loads(Path("mh-raw.diagnostics.json").read_text()))
    summary.sweeps, summary.stopped_by, summary.rhat, summary.rhat_length
    worst_rhat_at(diagnostics, 100)   # the worst split R-hat after exactly 100 sweeps
    kept_within(records, diagnostics, 100)   # the samples a 100-sweep run would have kept

The stopping check draws no random numbers, so the first k sweeps of a run with `--until-rhat`
are a run of exactly k sweeps with the same seed: `worst_rhat_at` and `kept_within` read that
shorter run out of the longer one. Not under annealing (`--anneal-to`): the temperature schedule
spans the burn-in plus the run's minimum sweeps (`--sweeps`), so a k-sweep run cools over other
sweeps unless k is that minimum; for an annealed run both functions refuse any other k.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FIXED = "fixed"  # no stopping rule: the run did the sweeps it was asked for


@dataclass(frozen=True)
class Convergence:
    """One sampler run's convergence, as recorded.

    sweeps: sweeps run past the burn-in (with --until-rhat: until it stopped).
    stopped_by: "converged", "max_sweeps", "time_budget", or "fixed" (no --until-rhat).
    until_rhat: the threshold of the rule, None without one.
    rhat, rhat_length: the highest split R-hat of the energy among the length groups, over every
        sweep past the burn-in, and that group's length; None when no group has two chains or
        the diagnostics predate length groups (never filled in from the pooled R-hat).
    pooled_rhat: rank R-hat over all chains, lengths mixed (for reference only).
    checks: [{"sweep", "worst_split_rhat"}] of the rule, in order ([] without one).
    """

    sweeps: int
    burn_in: int
    stopped_by: str
    until_rhat: float | None
    rhat: float | None
    rhat_length: int | None
    pooled_rhat: float | None
    checks: list[dict]

    @property
    def converged(self) -> bool:
        return self.stopped_by == "converged"

    def as_dict(self) -> dict:
        return asdict(self)


def read_convergence(diagnostics: dict) -> Convergence:
    """The convergence summary of one run's diagnostics (the dict of NAME.diagnostics.json)."""
    stopping = diagnostics.get("stopping")
    worst = diagnostics.get("energy_worst_length") or {}
    if stopping is not None and stopping.get("sweeps") != diagnostics.get("sweeps"):
        raise ValueError(
            f"inconsistent diagnostics: stopping.sweeps {stopping.get('sweeps')} but sweeps "
            f"{diagnostics.get('sweeps')}"
        )
    return Convergence(
        sweeps=int(diagnostics["sweeps"]),
        burn_in=int(diagnostics.get("burn_in", 0)),
        stopped_by=FIXED if stopping is None else stopping["stopped_by"],
        until_rhat=None if stopping is None else stopping["until_rhat"],
        rhat=worst.get("split_rhat"),
        rhat_length=worst.get("length"),
        pooled_rhat=diagnostics.get("energy_rhat"),
        checks=[] if stopping is None else list(stopping.get("checks", [])),
    )


def load_convergence(path: str | Path) -> Convergence:
    """`read_convergence` of a NAME.diagnostics.json file."""
    return read_convergence(json.loads(Path(path).read_text()))


def worst_rhat_at(diagnostics: dict, sweeps: int) -> float | None:
    """The worst per-length split R-hat the stopping rule computed after exactly `sweeps` sweeps
    past the burn-in, or None when it made no check there (or the check had too few draws).
    Raises ValueError for an annealed run unless `sweeps` is its minimum (`check_prefix`)."""
    check_prefix(diagnostics, sweeps)
    for check in (diagnostics.get("stopping") or {}).get("checks", []):
        if check["sweep"] == sweeps:
            return check["worst_split_rhat"]
    return None


def kept_within(records: list[dict], diagnostics: dict, sweeps: int) -> list[dict]:
    """The records (lines of NAME.jsonl) kept within the first `sweeps` sweeps past the burn-in:
    a record's "sweep" counts the burn-in too (the first kept is burn_in + thin). Raises
    ValueError for an annealed run unless `sweeps` is its minimum (`check_prefix`)."""
    if sweeps > diagnostics["sweeps"]:
        raise ValueError(f"the run has {diagnostics['sweeps']} sweeps, fewer than {sweeps}")
    check_prefix(diagnostics, sweeps)
    last = diagnostics.get("burn_in", 0) + sweeps
    return [record for record in records if record["sweep"] <= last]


def check_prefix(diagnostics: dict, sweeps: int) -> None:
    """Raise ValueError unless the run's first `sweeps` sweeps past the burn-in are a run of
    `sweeps` sweeps: always at one temperature; under annealing (the first sweep's temperature
    is not the last's) only for the sweeps its schedule spans past the burn-in, the minimum of
    an --until-rhat run (`stopping.min_sweeps`) or all of a fixed one."""
    temperature = diagnostics.get("temperature") or {}
    first, last = temperature.get("first"), temperature.get("last")
    if first == last:
        return
    stopping = diagnostics.get("stopping")
    scheduled = diagnostics["sweeps"] if stopping is None else stopping.get("min_sweeps")
    if sweeps != scheduled:
        raise ValueError(
            f"the run anneals from temperature {first:g} to {last:g} over its burn-in and "
            f"{scheduled} sweeps, so its first {sweeps} sweeps are not a {sweeps}-sweep run "
            f"(which would cool over {sweeps}); read {scheduled} sweeps, or run {sweeps} sweeps"
        )
