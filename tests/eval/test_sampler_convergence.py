"""Reading a sampler run's convergence out of its diagnostics: fake files written by hand, and a
tiny `textebm sample --until-rhat` run whose first sweeps are a shorter run of the same seed."""

from __future__ import annotations

import json

import pytest

from textebm.cli.main import main
from textebm.eval.sampler_convergence import (
    kept_within,
    load_convergence,
    read_convergence,
    worst_rhat_at,
)


def _diagnostics(**extra) -> dict:
    """The shape of NAME.diagnostics.json: 3 length groups, the pooled R-hat far above them."""
    groups = [
        {"length": 10, "chains": 5, "split_rhat": 1.02},
        {"length": 11, "chains": 1, "split_rhat": None},
        {"length": 12, "chains": 6, "split_rhat": 1.04},
    ]
    return {
        "chains": 12,
        "sweeps": 140,
        "burn_in": 20,
        "energy_rhat": 3.5,
        "energy_split_rhat": 3.8,
        "energy_by_length": groups,
        "energy_worst_length": groups[2],
        **extra,
    }


STOPPING = {
    "until_rhat": 1.05,
    "check_every": 10,
    "max_sweeps": 3000,
    "time_budget_minutes": 90.0,
    "min_sweeps": 100,
    "stopped_by": "converged",
    "converged": True,
    "sweeps": 140,
    "checks": [
        {"sweep": 100, "worst_split_rhat": 1.31},
        {"sweep": 110, "worst_split_rhat": None},
        {"sweep": 120, "worst_split_rhat": 1.08},
        {"sweep": 130, "worst_split_rhat": 1.06},
        {"sweep": 140, "worst_split_rhat": 1.04},
    ],
}


def test_a_converged_run_from_a_fake_file(tmp_path):
    path = tmp_path / "mh-raw-T1.0.diagnostics.json"
    path.write_text(json.dumps(_diagnostics(stopping=STOPPING)))
    summary = load_convergence(path)
    assert (summary.sweeps, summary.burn_in, summary.stopped_by) == (140, 20, "converged")
    assert summary.converged and summary.until_rhat == 1.05
    # the worst length group's split R-hat (length 12), not the pooled 3.5 or 3.8
    assert (summary.rhat, summary.rhat_length, summary.pooled_rhat) == (1.04, 12, 3.5)
    assert [c["sweep"] for c in summary.checks] == [100, 110, 120, 130, 140]
    assert summary.as_dict()["stopped_by"] == "converged"


def test_a_capped_run_says_which_cap():
    stopping = {**STOPPING, "stopped_by": "time_budget", "converged": False, "sweeps": 140}
    summary = read_convergence(_diagnostics(stopping=stopping))
    assert summary.stopped_by == "time_budget" and not summary.converged


def test_a_fixed_run_and_diagnostics_older_than_length_groups():
    fixed = read_convergence(_diagnostics(sweeps=100))
    assert (fixed.stopped_by, fixed.until_rhat, fixed.checks, fixed.sweeps) == (
        "fixed",
        None,
        [],
        100,
    )
    old = _diagnostics()
    del old["energy_by_length"], old["energy_worst_length"]
    summary = read_convergence(old)
    # never filled in from the pooled R-hat
    assert summary.rhat is None and summary.rhat_length is None and summary.pooled_rhat == 3.5
    single = _diagnostics(energy_worst_length=None)
    assert read_convergence(single).rhat is None


def test_inconsistent_sweeps_are_refused():
    with pytest.raises(ValueError, match=r"stopping\.sweeps 140 but sweeps 150"):
        read_convergence(_diagnostics(sweeps=150, stopping=STOPPING))


def test_worst_rhat_at_a_check_and_the_records_kept_within():
    diagnostics = _diagnostics(stopping=STOPPING)
    assert worst_rhat_at(diagnostics, 100) == 1.31
    assert worst_rhat_at(diagnostics, 110) is None  # too few draws in a group then
    assert worst_rhat_at(diagnostics, 105) is None  # no check there
    assert worst_rhat_at(_diagnostics(), 100) is None  # no rule, no checks
    # burn-in 20, thin 10: kept at sweeps 30, 40, ..., 160 (the record's sweep counts burn-in)
    records = [{"chain": c, "sweep": s} for s in range(30, 161, 10) for c in range(2)]
    within = kept_within(records, diagnostics, 100)
    assert sorted({r["sweep"] for r in within}) == list(range(30, 121, 10))
    assert len(within) == 2 * 10
    with pytest.raises(ValueError, match="fewer than 150"):
        kept_within(records, diagnostics, 150)


def test_an_annealed_run_is_read_only_over_the_sweeps_its_schedule_spans():
    """--anneal-to cools over burn-in + --sweeps (the minimum): the first k sweeps of a longer run
    are a k-sweep run only for k = the minimum; at one temperature any k is."""
    annealed = {"temperature": {"first": 1.0, "last": 0.25}}
    records = [{"chain": c, "sweep": s} for s in range(30, 161, 10) for c in range(2)]
    diagnostics = _diagnostics(stopping=STOPPING, **annealed)  # min_sweeps 100 of 140
    assert worst_rhat_at(diagnostics, 100) == 1.31
    assert len(kept_within(records, diagnostics, 100)) == 2 * 10
    for k in (90, 120, 140):
        with pytest.raises(ValueError, match=f"burn-in and 100 sweeps, so its first {k} sweeps"):
            kept_within(records, diagnostics, k)
        with pytest.raises(ValueError, match=r"anneals from temperature 1 to 0\.25"):
            worst_rhat_at(diagnostics, k)
    fixed = _diagnostics(**annealed)  # no rule: the schedule spans all 140 sweeps
    assert len(kept_within(records, fixed, 140)) == len(records)
    with pytest.raises(ValueError, match="burn-in and 140 sweeps"):
        kept_within(records, fixed, 100)
    steady = _diagnostics(stopping=STOPPING, temperature={"first": 0.5, "last": 0.5})
    assert worst_rhat_at(steady, 120) == 1.08 and len(kept_within(records, steady, 120)) == 2 * 12


def _sample(model_dir, out, extra: list[str]) -> tuple[dict, list[dict]]:
    assert main(["sample", "--model", str(model_dir), *extra, "-o", str(out)]) == 0
    diagnostics = json.loads(out.with_suffix(".diagnostics.json").read_text())
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return diagnostics, records


@pytest.mark.usefixtures("_quiet_and_one_thread")
def test_a_real_run_read_back_and_its_prefix_is_the_shorter_run(wordlevel_dir, tmp_path):
    """The first 4 sweeps of an --until-rhat run (seed 1, converged at sweep 6: see
    tests/cli/test_sample_convergence.py) are the 4-sweep run of the same seed: the same kept
    samples, and the rule's check at sweep 4 is that run's worst per-length split R-hat."""
    base = ["--length", "4", "--chains", "4", "--burn-in", "2", "--thin", "2", "--seed", "1"]
    rule = ["--sweeps", "4", "--until-rhat", "1.5", "--check-every", "2", "--max-sweeps", "12"]
    diagnostics, records = _sample(wordlevel_dir, tmp_path / "until.jsonl", [*base, *rule])
    summary = read_convergence(diagnostics)
    assert (summary.stopped_by, summary.sweeps) == ("converged", 6)
    assert summary.rhat is not None and summary.rhat <= 1.5 and summary.rhat_length == 4
    short, short_records = _sample(
        wordlevel_dir, tmp_path / "short.jsonl", [*base, "--sweeps", "4"]
    )
    assert read_convergence(short).stopped_by == "fixed"
    assert kept_within(records, diagnostics, 4) == short_records
    assert worst_rhat_at(diagnostics, 4) == pytest.approx(
        short["energy_worst_length"]["split_rhat"]
    )
