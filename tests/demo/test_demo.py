"""`textebm demo` end to end on a reduced budget, and its caching."""

from __future__ import annotations

import json

import pytest

from textebm.cli.main import main


@pytest.mark.slow
def test_demo_separates_grammatical_from_corrupted(tmp_path, capsys, monkeypatch):
    from textebm.data.grammar import default_grammar

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
    sampling = metrics["sampling"]
    assert sampling["mh"]["samples"] == sampling["gibbs"]["samples"] == 32 * 10
    assert sampling["gibbs"]["acceptance_rate"] == 1.0
    assert 0 < sampling["mh"]["acceptance_rate"] < 1
    for name in ("mh", "gibbs"):
        assert 0 <= sampling[name]["novel_transition_rate"] <= sampling[name]["acceptance_rate"]
        assert 0 < sampling[name]["fraction_grammatical"] <= 1
        lengths = {int(n) for n in sampling[name]["word_counts"]}  # JSON keys are strings
        assert lengths <= set(default_grammar().length_distribution())
    assert "degenerate Gibbs" in report
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


def test_judge_counts_grammatical_samples_exactly():
    from textebm.data.grammar import default_grammar
    from textebm.demo.sampling import judge

    grammar = default_grammar()
    good = "the dog runs ."
    result = judge(grammar, [good, good, "runs the dog ."])
    assert result["fraction_grammatical"] == pytest.approx(2 / 3)
    assert result["distinct"] == 2
    assert result["mean_log_prob_grammatical"] == pytest.approx(grammar.log_prob(good))
    assert judge(grammar, ["dog dog dog ."])["mean_log_prob_grammatical"] is None


def test_sample_lengths_follow_the_grammar():
    from textebm.data.grammar import default_grammar
    from textebm.demo.sampling import sample_lengths

    grammar = default_grammar()
    lengths = sample_lengths(grammar, 4000, seed=0)
    assert lengths == sample_lengths(grammar, 4000, seed=0)
    assert set(lengths) == set(grammar.length_distribution())
    assert sum(lengths) / len(lengths) == pytest.approx(grammar.mean_length(), abs=0.1)


@pytest.fixture(scope="module")
def grammar_mlm_dir(tmp_path_factory):
    """A random tiny masked LM over the grammar's words, saved as the demo saves its model."""
    import torch
    from transformers import BertForMaskedLM

    from textebm.data.grammar import default_grammar
    from textebm.models.tiny import tiny_bert_config, wordlevel_tokenizer

    tokenizer = wordlevel_tokenizer(default_grammar().vocabulary(), model_max_length=32)
    config = tiny_bert_config(len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)  # from_config draws from the global RNG
    folder = tmp_path_factory.mktemp("grammar-mlm")
    BertForMaskedLM(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_every_sampled_chain_has_a_length_the_grammar_produces(grammar_mlm_dir):
    """End to end through the demo's sampling stage: the words of every kept sample are counted
    from its decoded text. Chains two tokens too long (special tokens counted twice) reach 13
    or 14 words, which no sentence of the grammar has, so they could never be grammatical."""
    from textebm.data.grammar import default_grammar
    from textebm.demo.sampling import run_sampling

    chains = 64  # enough that the longest lengths (11, 12: p = 0.09) are drawn
    results = run_sampling(grammar_mlm_dir, chains, burn_in=1, sweeps=2, thin=1, seed=0)
    possible = set(default_grammar().length_distribution())
    for name in ("mh", "gibbs"):
        counts = results[name]["word_counts"]
        assert sum(counts.values()) == results[name]["samples"] == 2 * chains
        assert set(counts) <= possible, f"{name} sampled lengths {sorted(set(counts) - possible)}"
        assert max(counts) == max(possible)  # the long tail is sampled, not cut off
