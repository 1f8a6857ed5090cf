"""`textebm generate-noise`: a noise file that `train classifier --noise-file` takes, and the
one-line errors of bad input."""

from __future__ import annotations

import json
import re

import pytest

from textebm.cli.main import main
from textebm.data.labelled import read_labelled
from textebm.data.noise import (
    read_noise,
    read_noise_header,
    task_fingerprint,
    tokenizer_fingerprint,
)
from textebm.errors import UsageError
from textebm.models.loading import load_tokenizer

TRAIN = [
    ("the cat sat on the mat .", "pos"),
    ("a dog ran in the park", "neg"),
    ("the old cat sang", "pos"),
    ("we saw them yesterday near the green river", "neg"),
]


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    monkeypatch.setenv("CI", "1")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generate-noise")
    rows = "".join(f"{text}\t{label}\n" for text, label in TRAIN)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + rows)
    pairs = "".join(
        f"{a}\t{b}\t{i % 2}\n"
        for i, ((a, _), (b, _)) in enumerate(zip(TRAIN, TRAIN[1:] + TRAIN[:1], strict=True))
    )
    (folder / "pairs.tsv").write_text("premise\thypothesis\tlabel\n" + pairs)
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + rows)
    return folder


def noise_args(files, model, output, *extra) -> list[str]:
    return [
        "generate-noise",
        "--model",
        str(model),
        "--train",
        str(files / "train.tsv"),
        "--labels",
        "neg,pos",
        "--ratio",
        "3",
        "--seed",
        "5",
        "-o",
        str(output),
        *extra,
    ]


def test_noise_file_is_reproducible_and_accepted(files, wordlevel_dir, wordpiece_dir, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(noise_args(files, wordlevel_dir, first)) == 0
    assert main(noise_args(files, wordlevel_dir, second)) == 0
    assert first.read_bytes() == second.read_bytes()
    header = read_noise_header(first)
    assert header["noise_model"]["method"] == "mlm-fill"
    assert header["noise_model"]["ratio"] == 3 and header["noise_model"]["seed"] == 5
    assert header["noise_model"]["top_k"] == 10  # the default used, recorded as a number
    rows = read_labelled(files / "train.tsv", label_names=["neg", "pos"])
    task = task_fingerprint(rows)
    tokenizer = tokenizer_fingerprint(load_tokenizer(str(wordlevel_dir)))
    noise = read_noise(first, task=task, tokenizer=tokenizer)
    assert len(noise) == 3 * len(TRAIN)
    with pytest.raises(UsageError, match="another tokenizer"):
        read_noise(
            first, task=task, tokenizer=tokenizer_fingerprint(load_tokenizer(str(wordpiece_dir)))
        )
    with pytest.raises(UsageError, match="another task"):
        read_noise(first, task=task_fingerprint(rows[:2]), tokenizer=tokenizer)


def test_train_classifier_takes_the_file(files, wordlevel_dir, tmp_path):
    noise = tmp_path / "noise.jsonl"
    assert main(noise_args(files, wordlevel_dir, noise)) == 0
    train = [
        "train", "classifier", "--model", str(wordlevel_dir), "--train", str(files / "train.tsv"),
        "--dev", str(files / "dev.tsv"), "--labels", "neg,pos", "--max-steps", "2",
        "--context-length", "24", "--batch-size", "4", "--log-every", "1",
        "--energy", "hidden", "--noise-file", str(noise), "--noise-ratio", "2",
        "--output", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(train) == 0
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert "nce_noise" in record


def test_sentence_pairs(files, wordlevel_dir, tmp_path):
    output = tmp_path / "pairs.jsonl"
    args = noise_args(files, wordlevel_dir, output, "--fill", "sequential")
    args[args.index("--train") + 1] = str(files / "pairs.tsv")
    args[args.index("--labels") : args.index("--labels") + 2] = []
    args += ["--text-column", "premise", "--text-pair-column", "hypothesis"]
    assert main(args) == 0
    noise = read_noise(output, pairs=True)
    assert len(noise) == 3 * len(TRAIN)
    lengths = [
        (len(a.split()), len(b.split()))
        for (a, _), (b, _) in zip(TRAIN, TRAIN[1:] + TRAIN[:1], strict=True)
    ]
    assert [(len(n.text.split()), len(n.text_pair.split())) for n in noise[::3]] == lengths


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--train": "{missing}"}, "not found|No such file|does not exist"),
        ({"--labels": "a,b"}, "unknown label 'pos'"),
        ({"--text-column": "text"}, "has no column 'text'"),
        ({"--ratio": "0"}, "--ratio must be at least 1"),
        ({"--mask-fraction": "0"}, "--mask-fraction"),
        ({"--model": "{missing}"}, "model folder not found"),
        ({"-o": "{folder}"}, "is a folder"),
        ({"-o": "{train}"}, "is the input"),
        ({"--tokenizer": "{wordpiece}"}, "another vocabulary"),
        ({"--dataset": "{folder}"}, "pass one of --train FILE and --dataset NAME"),
    ],
)
def test_bad_input_is_one_line(
    files, wordlevel_dir, wordpiece_dir, tmp_path, capsys, change, message
):
    places = {
        "{missing}": str(tmp_path / "missing" / "x"),
        "{folder}": str(tmp_path),
        "{train}": str(files / "train.tsv"),
        "{wordpiece}": str(wordpiece_dir),
    }
    args = noise_args(files, wordlevel_dir, tmp_path / "noise.jsonl")
    for flag, value in change.items():
        value = places.get(value, value)
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("textebm generate-noise: error:")
    assert re.search(message, err), err
    assert not (tmp_path / "noise.jsonl").exists()


def test_command_and_library_write_the_same_file(files, wordlevel_dir, tmp_path):
    from textebm.samplers.make_noise import NoiseConfig, generate_noise

    assert main(noise_args(files, wordlevel_dir, tmp_path / "cli.jsonl")) == 0
    config = NoiseConfig(
        model=str(wordlevel_dir), train=str(files / "train.tsv"), labels="neg,pos", ratio=3, seed=5
    )
    assert generate_noise(config, str(tmp_path / "lib.jsonl")) == 3 * len(TRAIN)
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "lib.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("method", "fixture", "message"),
    [
        ("rewrite", "wordlevel_dir", "is a masked LM, not a rewrite model"),
        ("mlm-fill", "clm_dir", "is a causal LM, not a masked LM"),
    ],
)
def test_a_model_of_the_other_method_is_refused(
    files, tmp_path, capsys, request, method, fixture, message
):
    model = request.getfixturevalue(fixture)
    output = tmp_path / "noise.jsonl"
    args = noise_args(files, model, output, "--method", method)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not output.exists()


def test_language_model_kind(wordlevel_dir, clm_dir, electric_dir):
    from textebm.models.loading import language_model_kind

    assert language_model_kind(str(wordlevel_dir)) == "masked"
    assert language_model_kind(str(clm_dir)) == "causal"
    assert language_model_kind(str(electric_dir)) is None
