"""`textebm sample --shard R/W`, and the same run on two processes under torchrun (gloo)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.two_processes import torchrun_two
from textebm.cli.main import main

COMMON = ["--length", "3-5", "--chains", "5", "--sweeps", "4", "--burn-in", "1", "--thin", "2"]

# seed 0 draws lengths 3, 4, 4, 3, 4, 4: shard 1/2 holds one chain of length 3
LONE = ["--shard", "1/2", "--seed", "0", "--length", "3-4", "--chains", "6"]


pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")


def _sample(model_dir, out, extra: list[str]) -> int:
    return main(["sample", "--model", str(model_dir), *COMMON, *extra, "-o", str(out)])


def test_shard_zero_of_one_writes_the_unsharded_samples(wordlevel_dir, tmp_path):
    assert _sample(wordlevel_dir, tmp_path / "a.jsonl", ["--seed", "2"]) == 0
    assert _sample(wordlevel_dir, tmp_path / "b.jsonl", ["--seed", "2", "--shard", "0/1"]) == 0
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    shard = json.loads((tmp_path / "b.diagnostics.json").read_text())["shard"]
    assert shard["chains"] == [0, 5] and shard["seed"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--shard", "2/2"], "--shard 2/2: need W >= 1 and 0 <= R < W"),
        (["--shard", "one/two"], "--shard must be R/W"),
        (["--shard", "5/6"], "leaves shard 5/6 without a chain"),
        (
            [*LONE, "--until-rhat", "1.1", "--max-sweeps", "8"],
            "length(s) 3 have one in this shard",
        ),
    ],
)
def test_bad_shards_are_one_line_exit_2(wordlevel_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "s.jsonl"
    assert _sample(wordlevel_dir, out, extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    return torchrun_two("-m", "textebm", "sample", *args)


def _one(args: list[str]) -> None:
    """A one-process run, in this process (saves starting Python, torch and transformers)."""
    assert main(["sample", *args]) == 0


@pytest.mark.slow
def test_two_processes_write_the_two_shards_concatenated(wordlevel_dir, tmp_path):
    """5 chains of lengths 3-5 on 2 processes: chains 0-2 with seed 4, 3-4 with shard_seed(4, 1),
    bitwise the same as the two one-process --shard runs, rank 0's first."""
    args = ["--model", str(wordlevel_dir), *COMMON, "--seed", "4", "--device", "cpu"]
    result = _torchrun([*args, "-o", str(tmp_path / "two.jsonl")])
    assert result.returncode == 0, result.stderr[-2000:]
    for rank in range(2):
        _one([*args, "--shard", f"{rank}/2", "-o", str(tmp_path / f"s{rank}.jsonl")])
    shards = (tmp_path / "s0.jsonl").read_text() + (tmp_path / "s1.jsonl").read_text()
    assert (tmp_path / "two.jsonl").read_text() == shards
    diagnostics = json.loads((tmp_path / "two.diagnostics.json").read_text())
    assert diagnostics["chains"] == 5 and diagnostics["processes"]["count"] == 2
    assert (tmp_path / "two.trace.png").stat().st_size > 0


@pytest.mark.slow
def test_two_processes_stop_together_under_until_rhat(wordlevel_dir, tmp_path):
    """Both processes stop after the sweep at which R-hat over all chains of each length is low
    (or the cap), and each wrote what a plain --shard run of that many sweeps writes."""
    base = ["--model", str(wordlevel_dir), "--device", "cpu", "--length", "3-4", "--chains", "6"]
    base += ["--burn-in", "2", "--thin", "1", "--seed", "0"]
    rule = ["--sweeps", "4", "--until-rhat", "1.3", "--check-every", "2", "--max-sweeps", "40"]
    result = _torchrun([*base, *rule, "-o", str(tmp_path / "two.jsonl")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "converged after" in result.stderr or "came first" in result.stderr
    diagnostics = json.loads((tmp_path / "two.diagnostics.json").read_text())
    stopping = diagnostics["stopping"]
    worst = diagnostics["energy_worst_length"]["split_rhat"]
    assert stopping["checks"][-1]["worst_split_rhat"] == pytest.approx(worst, rel=1e-6)
    assert (worst <= 1.3) == stopping["converged"]
    done = str(stopping["sweeps"])
    for rank in range(2):
        plain = [*base, "--sweeps", done, "--shard", f"{rank}/2"]
        _one([*plain, "-o", str(tmp_path / f"s{rank}.jsonl")])
    shards = (tmp_path / "s0.jsonl").read_text() + (tmp_path / "s1.jsonl").read_text()
    assert (tmp_path / "two.jsonl").read_text() == shards
