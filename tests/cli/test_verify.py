"""`textebm verify` prints the exactness table and exits 0 when every row is as expected.

The sampled rows' numbers are checked in tests/eval/test_exact.py; here the sampled part is left
out (`sample_targets=()`) to keep the command's own test fast.
"""

from __future__ import annotations

import pytest

import textebm.eval.verify as verify_module
from textebm.cli.main import main


@pytest.fixture
def exact_only(monkeypatch):
    real = verify_module.verify

    def verify(config=None, progress=False):
        from dataclasses import replace

        return real(replace(config, sample_targets=()), progress)

    monkeypatch.setattr(verify_module, "verify", verify)


def test_quick_table(capsys, monkeypatch, exact_only):
    monkeypatch.setenv("CI", "1")
    code = main(["verify", "--quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "25 of 25 checks as expected." in out  # 15 masked-LM rows, 2 Electric, 8 CMLM
    lines = out.splitlines()
    assert lines[0].split() == [
        "check",
        "energy",
        "tau",
        "sampler",
        "states",
        "classes",
        "burn-in",
        "samples",
        "ESS(E)",
        "TV",
        "expected",
        "ok",
    ]
    assert sum("degenerate Gibbs" in line for line in lines) == 5
    cmlm = [line for line in lines if line.split()[1:2] in (["cmlm-norm"], ["cmlm-raw"])]
    assert len(cmlm) == 8 and all(line.rstrip().endswith("yes") for line in cmlm)
    electric = [line for line in lines if line.split()[1:2] == ["electric"]]
    assert len(electric) == 2 and all(line.rstrip().endswith("yes") for line in electric)
    assert all(line.rstrip().endswith("yes") for line in lines[2:17])
    assert _column(lines, "classes") == ["1"] * 15  # one class: every state reached
    assert _balance(out) <= 1e-6


def _column(lines: list[str], name: str) -> list[str]:
    """The cells under header `name` of the table's 15 exact rows (columns are left-aligned)."""
    header = lines[0]
    start = header.index(name)
    end = header.index(header[start:].split()[1], start + len(name))
    return [line[start:end].strip() for line in lines[2:17]]


def _balance(out: str) -> float:
    """The number on the line `largest detailed-balance violation: <number>`."""
    (line,) = [x for x in out.splitlines() if x.startswith("largest detailed-balance violation:")]
    text = line.split(": ")[1]
    assert "e" in text, "scientific notation"
    return float(text)


@pytest.mark.parametrize(
    "flags", [["--top-k", "2"], ["--top-p", "0.8"], ["--proposal-temperature", "2"]]
)
def test_quick_truncated(capsys, monkeypatch, exact_only, flags):
    """Truncated MH is certified per closed class, with detailed balance on every pair; the
    chain splits into several classes under truncation, and no number is NaN."""
    monkeypatch.setenv("CI", "1")
    code = main(["verify", "--quick", *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "nan" not in out.lower()
    assert _balance(out) <= 1e-6
    lines = out.splitlines()
    mh = [i for i, name in enumerate(_column(lines, "sampler")) if name.startswith("MH")]
    assert len(mh) == 12
    assert all(_column(lines, "expected")[i] == "<= 1e-06" for i in mh)
    assert all(lines[2 + i].endswith("yes") for i in mh)
    classes = [int(_column(lines, "classes")[i]) for i in mh]
    assert (max(classes) > 1) == (flags[0] != "--proposal-temperature")


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags", [["--top-k", "2"], ["--top-p", "0.9"], ["--proposal-temperature", "2"]]
)
def test_full_truncated(capsys, monkeypatch, flags):
    """The whole command, sampled rows included (2-3 minutes each on one thread)."""
    monkeypatch.setenv("CI", "1")
    code = main(["verify", *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "nan" not in out.lower()
    assert _balance(out) <= 1e-6
    assert "31 of 31 checks as expected." in out  # 23 masked-LM and Electric rows, 8 CMLM


def test_failures_exit_1(capsys, monkeypatch):
    row = verify_module.Row(
        "exact", "norm", 1.0, "MH single-site, random scan", 64, None, None, 0.5, False
    )
    monkeypatch.setattr(verify_module, "verify", lambda config=None, progress=False: [row])
    assert main(["verify"]) == 1
    assert "0 of 1 checks as expected." in capsys.readouterr().out


def test_bad_arguments(capsys):
    assert main(["verify", "--sweeps", "2"]) == 2
    assert "--sweeps >= 4" in capsys.readouterr().err
    for flags, message in [
        (["--top-k", "-1"], "--top-k must be >= 0"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--top-p", "nan"], "--top-p must be in (0, 1]"),
        (["--proposal-temperature", "0"], "--proposal-temperature must be positive"),
    ]:
        assert main(["verify", *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["verify", "--chains", "many"])
