"""`textebm demo` end to end on a reduced budget, and its caching."""

from __future__ import annotations

import json

import pytest

from textebm.cli.main import main


@pytest.mark.slow
def test_demo_separates_grammatical_from_corrupted(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CI", "1")
    output = tmp_path / "demo"
    args = ["demo", "--output", str(output), "--max-steps", "400"]
    assert main(args) == 0
    report = capsys.readouterr().out
    assert "pairwise accuracy" in report
    metrics = json.loads((output / "metrics.json").read_text())
    evaluation = metrics["evaluation"]
    assert evaluation["pairs"] == 500
    assert evaluation["pairwise_accuracy_norm"]["accuracy"] >= 0.9
    assert evaluation["spearman_minus_energy_vs_log_prob"] > 0.5
    assert (output / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (output / "model" / "model.safetensors").exists()
    # test sentences are held out: none occurs in the training corpus
    train = set((output / "data" / "train.txt").read_text().splitlines())
    assert not train & set((output / "data" / "test.txt").read_text().splitlines())
    # a second run reuses the trained model and reports the same figures
    assert main(args) == 0
    again = json.loads((output / "metrics.json").read_text())
    assert again["evaluation"] == evaluation
    assert again["seconds"]["train"] < metrics["seconds"]["train"]


def test_demo_rejects_bad_steps(capsys):
    assert main(["demo", "--max-steps", "0"]) == 2
    assert "--max-steps must be positive" in capsys.readouterr().err
