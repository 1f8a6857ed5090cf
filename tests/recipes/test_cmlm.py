"""The CMLM recipe: Mask-Predict masking, the loss, a joint tokenizer, training from the command
line, exact resume and bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textebm.cli.main import main
from textebm.errors import UsageError
from textebm.models.loading import load_cmlm
from textebm.objectives.cmlm import choose_masks, cmlm_loss
from textebm.recipes.cmlm import train_cmlm
from textebm.recipes.cmlm_config import CmlmConfig

SOURCE_WORDS = "le la chat chien oiseau mange court voit petit grand rouge vert".split()
TARGET_WORDS = "the the cat dog bird eats runs sees small big red green".split()
DICTIONARY = dict(zip(SOURCE_WORDS, TARGET_WORDS, strict=True))


def write_pairs(folder: Path, name: str, lines: int, seed: int) -> tuple[Path, Path]:
    """A word-for-word toy 'translation': the target is the source word by word, reversed."""
    rng = random.Random(seed)
    sources, targets = [], []
    for _ in range(lines):
        words = [rng.choice(SOURCE_WORDS) for _ in range(rng.randint(2, 6))]
        sources.append(" ".join(words))
        targets.append(" ".join(DICTIONARY[w] for w in reversed(words)))
    (folder / f"{name}.src").write_text("\n".join(sources) + "\n")
    (folder / f"{name}.tgt").write_text("\n".join(targets) + "\n")
    return folder / f"{name}.src", folder / f"{name}.tgt"


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def test_choose_masks_draws_a_uniform_count_of_uniform_positions():
    """k ~ U{1..n}: over many rows each k in 1..4 comes up about a quarter of the time, and
    every content position is masked equally often; never [CLS]/[SEP]/padding."""
    content = torch.zeros(4000, 7, dtype=torch.bool)
    content[:, 1:5] = True  # n = 4 content tokens between [CLS] and [SEP], then padding
    masked = choose_masks(content, torch.Generator().manual_seed(0))
    assert not (masked & ~content).any()
    counts = torch.bincount(masked.sum(dim=1), minlength=5).float() / len(masked)
    assert counts[0] == 0 and torch.allclose(counts[1:], torch.full((4,), 0.25), atol=0.03)
    # P(position masked) = E[k] / n = 2.5 / 4
    per_position = masked[:, 1:5].float().mean(dim=0)
    assert torch.allclose(per_position, torch.full((4,), 0.625), atol=0.03)
    empty = choose_masks(torch.zeros(2, 3, dtype=torch.bool), torch.Generator())
    assert not empty.any()


def test_cmlm_loss_sums_the_masked_cross_entropy_and_the_weighted_length_nll(cmlm):
    model, tokenizer = cmlm
    source = torch.tensor([tokenizer("the cat sat")["input_ids"]] * 2)
    target = torch.tensor([tokenizer("a dog ran")["input_ids"]] * 2)
    masked = torch.tensor([[0, 1, 0, 1, 0], [0, 0, 1, 0, 0]], dtype=torch.bool)
    inputs = target.masked_fill(masked, tokenizer.mask_token_id)
    lengths = torch.tensor([3, 3])
    ones = torch.ones_like
    with torch.no_grad():
        masked_loss, length_loss = cmlm_loss(
            model, source, ones(source), inputs, ones(target), target, masked, lengths, 0.5
        )
        full = model(source, None, inputs)  # by hand from the full logits
    log_probs = torch.log_softmax(full.logits, dim=-1)
    expected = -(log_probs[0, 1, target[0, 1]] + log_probs[0, 3, target[0, 3]])
    expected -= log_probs[1, 2, target[1, 2]]
    assert torch.isclose(masked_loss, expected, atol=1e-4)
    assert torch.isclose(length_loss, -0.5 * full.length_log_probs[:, 3].sum(), atol=1e-5)


def _cmlm_run(tmp_path, capsys, *extra: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    train_src, train_tgt = write_pairs(tmp_path, "train", 120, seed=1)
    valid_src, valid_tgt = write_pairs(tmp_path, "valid", 16, seed=2)
    tokenizer = tmp_path / "tokenizer"
    corpora = ["--corpus", str(train_src), "--corpus", str(train_tgt)]
    settings = ["--kind", "wordlevel", "--model-max-length", "16", "--output", str(tokenizer)]
    code = main(["train", "tokenizer", *corpora, *settings])
    assert code == 0
    vocabulary = json.loads((tokenizer / "tokenizer.json").read_text())["model"]["vocab"]
    assert {"chat", "cat"} <= set(vocabulary)  # one vocabulary for both languages
    output = tmp_path / "run"
    arguments = ["train", "cmlm", "--source", str(train_src), "--target", str(train_tgt)]
    arguments += ["--validation-source", str(valid_src), "--validation-target", str(valid_tgt)]
    arguments += ["--tokenizer", str(tokenizer), "--output", str(output), "--layers", "1"]
    arguments += ["--hidden-size", "32", "--heads", "2", "--intermediate-size", "64"]
    arguments += ["--context-length", "16", "--batch-size", "16", "--lr", "3e-3"]
    arguments += ["--eval-every", "0", "--log-every", "1", "--checkpoint-every", "3"]
    assert main([*arguments, *extra]) == 0
    capsys.readouterr()
    return output


def test_train_cmlm_from_the_command_line(tmp_path, capsys):
    output = _cmlm_run(tmp_path, capsys, "--max-steps", "30", "--dropout", "0")
    train = [r for r in records(output) if r["split"] == "train"]
    assert {"masked", "length", "loss"} <= set(train[0])
    assert train[-1]["loss"] < train[0]["loss"]
    validation = [r for r in records(output) if r["split"] == "validation"][-1]
    assert 0 <= validation["length_accuracy"] <= 1 and validation["perplexity"] > 1
    model, tokenizer = load_cmlm(str(output))
    assert model.config.max_position_embeddings == 16
    assert tokenizer.convert_tokens_to_ids("chat") != tokenizer.unk_token_id


def test_a_killed_cmlm_run_resumes_exactly(tmp_path, capsys):
    straight = _cmlm_run(tmp_path / "a", capsys, "--max-steps", "6")
    config = json.loads((straight / "train_config.json").read_text())
    config["output"] = str(tmp_path / "b" / "run")
    train_cmlm(CmlmConfig(**config), stop_after=4)
    resumed = train_cmlm(CmlmConfig(**config))
    a, b = (
        load_file(str(straight / "model.safetensors")),
        load_file(str(resumed / "model.safetensors")),
    )
    assert all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": None}, "pass --source"),
        ({"corpus": None}, "pass --target"),
        ({"validation": None}, "both --validation-source and --validation-target"),
        ({"length_loss_weight": -1.0}, "length_loss_weight"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, change, message):
    values = dict(
        source="s.txt",
        corpus="t.txt",
        validation="v.txt",
        validation_source="vs.txt",
        tokenizer="tok",
        output=str(tmp_path / "run"),
    )
    with pytest.raises(UsageError, match=message):
        CmlmConfig(**{**values, **change})


def test_misaligned_pairs_stop_the_command_with_exit_code_2(tmp_path, capsys):
    source, target = write_pairs(tmp_path, "train", 10, seed=3)
    target.write_text("\n".join(target.read_text().splitlines()[:-1]) + "\n")
    tokenizer = tmp_path / "tokenizer"
    corpora = ["--corpus", str(source), "--corpus", str(target)]
    main(["train", "tokenizer", *corpora, "--kind", "wordlevel", "--output", str(tokenizer)])
    pairs = ["--source", str(source), "--target", str(target), "--tokenizer", str(tokenizer)]
    code = main(["train", "cmlm", *pairs, "--output", str(tmp_path / "run"), "--batch-size", "2"])
    assert code == 2
    assert "not line-aligned" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
