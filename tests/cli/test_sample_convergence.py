"""`textebm sample` with diagnostics per length group and --until-rhat, end to end."""

from __future__ import annotations

import json

import pytest
import torch

from textebm.cli.main import main
from textebm.eval.mcmc import split_rhat

pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def _sample(model_dir, tmp_path, capsys, name: str, extra: list[str]) -> tuple[int, str]:
    out = tmp_path / f"{name}.jsonl"
    code = main(["sample", "--model", str(model_dir), *extra, "-o", str(out)])
    return code, capsys.readouterr().err


def _diagnostics(tmp_path, name: str) -> dict:
    return json.loads((tmp_path / f"{name}.diagnostics.json").read_text())


def _records(tmp_path, name: str) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]


BASE = ["--chains", "4", "--sweeps", "4", "--burn-in", "2", "--thin", "2", "--seed", "1"]


def test_diagnostics_by_length(wordlevel_dir, tmp_path, capsys):
    """Chains are grouped by the length asked for (special tokens excluded); with --thin 1 the
    records hold the energy after every sweep past the burn-in, so each group's split R-hat can
    be recomputed from them; a length drawn for one chain has no R-hat (null)."""
    extra = ["--length", "3-5", "--chains", "6", "--sweeps", "6", "--burn-in", "1", "--thin", "1"]
    code, err = _sample(wordlevel_dir, tmp_path, capsys, "g", extra)
    assert code == 0, err
    records, diagnostics = _records(tmp_path, "g"), _diagnostics(tmp_path, "g")
    length = {r["chain"]: len(r["token_ids"]) for r in records}
    energies = torch.tensor([r["energy"] for r in records]).reshape(6, 6).T  # (chains, sweeps)
    groups = diagnostics["energy_by_length"]
    assert [g["length"] for g in groups] == sorted(set(length.values()))
    for group in groups:
        chains = [c for c in range(6) if length[c] == group["length"]]
        assert group["chains"] == len(chains)
        if len(chains) == 1:
            assert group["split_rhat"] is None and group["rhat"] is None
        else:
            assert group["split_rhat"] == pytest.approx(split_rhat(energies[chains]), rel=1e-4)
    assert "stopping" not in diagnostics


def test_until_rhat_end_to_end(wordlevel_dir, tmp_path, capsys):
    rule = ["--until-rhat", "1.5", "--check-every", "2", "--max-sweeps", "12"]
    code, err = _sample(wordlevel_dir, tmp_path, capsys, "u", ["--length", "4", *BASE, *rule])
    assert code == 0, err
    diagnostics = _diagnostics(tmp_path, "u")
    stopping = diagnostics["stopping"]
    assert stopping["until_rhat"] == 1.5 and stopping["max_sweeps"] == 12
    assert stopping["min_sweeps"] == 4
    assert stopping["sweeps"] == diagnostics["sweeps"]
    # this seed crosses between the first check (sweep 4) and the second (sweep 6)
    assert stopping["stopped_by"] == "converged" and stopping["sweeps"] == 6
    assert [c["sweep"] for c in stopping["checks"]] == [4, 6]
    assert (
        stopping["checks"][0]["worst_split_rhat"] > 1.5 >= stopping["checks"][1]["worst_split_rhat"]
    )
    assert "converged after 6 sweeps past the burn-in" in err
    assert [g["length"] for g in diagnostics["energy_by_length"]] == [4]
    kept = sorted({r["sweep"] for r in _records(tmp_path, "u")})
    assert kept == list(range(4, 2 + stopping["sweeps"] + 1, 2))
    # the same as a plain run of the sweeps it took, from the library too
    from textebm.samplers import SampleConfig, sample

    plain = ["--length", "4", *BASE[:2], "--sweeps", str(stopping["sweeps"]), *BASE[4:]]
    assert _sample(wordlevel_dir, tmp_path, capsys, "p", plain)[0] == 0
    assert _records(tmp_path, "p") == _records(tmp_path, "u")
    config = SampleConfig(
        model=str(wordlevel_dir),
        length="4",
        chains=4,
        sweeps=4,
        burn_in=2,
        thin=2,
        seed=1,
        until_rhat=1.5,
        check_every=2,
        max_sweeps=12,
    )
    assert sample(config, progress=False).records == _records(tmp_path, "u")


def test_a_cap_that_comes_first_is_named(wordlevel_dir, tmp_path, capsys):
    rule = ["--until-rhat", "1.0001", "--check-every", "1", "--max-sweeps", "5"]
    code, err = _sample(wordlevel_dir, tmp_path, capsys, "c", ["--length", "4", *BASE, *rule])
    assert code == 0, err
    stopping = _diagnostics(tmp_path, "c")["stopping"]
    assert stopping["stopped_by"] == "max_sweeps" and stopping["sweeps"] == 5
    assert "not converged: --max-sweeps came first, after 5 sweeps" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until-rhat", "1", "--max-sweeps", "200"], "--until-rhat must be more than 1"),
        (["--until-rhat", "0.9", "--max-sweeps", "200"], "--until-rhat must be more than 1"),
        (["--until-rhat", "1.05"], "--until-rhat needs a cap"),
        (["--until-rhat", "1.05", "--max-sweeps", "50"], "--max-sweeps 50 is less than --sweeps"),
        (["--max-sweeps", "200"], "--max-sweeps caps --until-rhat"),
        (["--time-budget", "5"], "--time-budget caps --until-rhat"),
        (["--until-rhat", "1.05", "--time-budget", "0"], "--time-budget must be positive"),
        (
            ["--until-rhat", "1.05", "--max-sweeps", "200", "--check-every", "0"],
            "--check-every must be >= 1",
        ),
        (
            ["--until-rhat", "1.05", "--max-sweeps", "200", "--sampler", "mask-predict"],
            "--until-rhat is for chains",
        ),
        (
            ["--until-rhat", "1.05", "--max-sweeps", "200", "--chains", "1"],
            "--until-rhat needs 2 or more chains of every length; length(s) 5 have one",
        ),
    ],
)
def test_bad_values_are_one_line_exit_2(wordlevel_dir, tmp_path, capsys, args, message):
    code, err = _sample(wordlevel_dir, tmp_path, capsys, "bad", ["--length", "5", *args])
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
