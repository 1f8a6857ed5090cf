"""`train classifier`, `generate-noise` and `eval calibration` on a labelled Hugging Face dataset
(`--dataset`): the same rows as a TSV give the same run, and bad input is one line, exit 2."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForSequenceClassification

from tests.cli.faults import assert_one_line_error, run_main
from textebm.data.labelled import read_labelled, read_labelled_dataset
from textebm.data.noise import read_noise, task_fingerprint, tokenizer_fingerprint
from textebm.models.loading import load_tokenizer

datasets = pytest.importorskip("datasets")

TINY = ["--context-length", "24", "--batch-size", "8", "--log-every", "1", "--lr", "3e-3"]
WORDS = "the a cat dog sat ran on in big small red old . and park mat".split()
ROWS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 6)) for i in range(48)]
LABELS = [int("cat" in row.split()) for row in ROWS]  # whether "cat" occurs: 0 neg, 1 pos


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def save_dataset(folder, labels: list, features=None) -> str:
    """Train (the first 40 rows) and validation (the last 8) splits, saved to `folder`."""
    splits = {
        name: datasets.Dataset.from_dict(
            {"sentence": ROWS[part], "label": labels[part]}, features=features
        )
        for name, part in (("train", slice(0, 40)), ("validation", slice(40, None)))
    }
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as TSV files (string labels), as a dataset with a ClassLabel column and as
    a dataset with string labels."""
    folder = tmp_path_factory.mktemp("classifier-dataset")
    names = ["neg" if y == 0 else "pos" for y in LABELS]
    for name, part in (("train", slice(0, 40)), ("dev", slice(40, None))):
        lines = [f"{r}\t{y}" for r, y in zip(ROWS[part], names[part], strict=True)]
        (folder / f"{name}.tsv").write_text("sentence\tlabel\n" + "\n".join(lines) + "\n")
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    return {
        "tsv": folder,
        "classes": save_dataset(folder / "classes", LABELS, features),
        "strings": save_dataset(folder / "strings", names),
    }


def train_args(source: list[str], model, output, *extra) -> list[str]:
    common = ["train", "classifier", "--model", str(model), *source, "--max-steps", "3"]
    return [*common, "--eval-every", "3", "--output", str(output), *TINY, *extra]


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run) -> list[tuple]:
    """Each record's step, split and figures, without timings."""
    timing = ("tokens_per_second", "seconds", "elapsed")
    return [
        tuple(sorted((k, v) for k, v in record.items() if k not in timing))
        for record in metrics(run)
    ]


def test_a_class_label_dataset_trains_as_the_same_rows_in_tsv(
    data, wordlevel_dir, tmp_path, capsys, monkeypatch
):
    from_tsv, from_dataset = tmp_path / "tsv", tmp_path / "dataset"
    tsv = ["--train", str(data["tsv"] / "train.tsv"), "--dev", str(data["tsv"] / "dev.tsv")]
    code, _, err = run_main(train_args(tsv, wordlevel_dir, from_tsv, "--labels", "neg,pos"), capsys)
    assert code == 0, err
    # No --labels: the ClassLabel's integers are the labels and its names become id2label.
    import textebm.data.corpus as corpus

    loads, load = [], corpus._load_dataset
    monkeypatch.setattr(corpus, "_load_dataset", lambda *a: loads.append(a) or load(*a))
    dataset = ["--dataset", data["classes"]]
    code, _, err = run_main(train_args(dataset, wordlevel_dir, from_dataset), capsys)
    assert code == 0, err
    # the train split's text, then its labelled rows with the class names: not a third time
    assert loads.count((data["classes"], "train")) == 2
    assert losses(from_dataset) == losses(from_tsv)
    assert any(r["split"] == "validation" for r in metrics(from_dataset))  # its validation split
    model = AutoModelForSequenceClassification.from_pretrained(from_dataset)
    assert model.config.id2label == {0: "neg", 1: "pos"}


def test_string_labels_need_their_names(data, wordlevel_dir, tmp_path, capsys):
    dataset = ["--dataset", data["strings"]]
    run = tmp_path / "run"
    code, _, err = run_main(train_args(dataset, wordlevel_dir, run, "--labels", "neg,pos"), capsys)
    assert code == 0, err
    code, _, err = run_main(train_args(dataset, wordlevel_dir, tmp_path / "other"), capsys)
    assert_one_line_error(code, err, "split 'train': row 1: unknown label 'neg'", "--labels")
    assert AutoModelForSequenceClassification.from_pretrained(run).config.id2label[1] == "pos"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--text-column", "review"], "has no column 'review'"),
        (["--label-column", "gold"], "has no column 'gold' (--label-column)"),
        (["--labels", "neg,maybe"], "unknown label 'pos'; --labels names ['neg', 'maybe']"),
        (["--split", "test"], "has no split 'test'"),
        (["--validation-split", "dev"], "has no split 'dev'"),
    ],
)
def test_bad_input_is_one_line_exit_2(data, wordlevel_dir, tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    args = train_args(["--dataset", data["classes"]], wordlevel_dir, run, *extra)
    code, _, err = run_main(args, capsys)
    assert_one_line_error(code, err, message)
    assert not run.exists()


def test_unlabelled_rows_of_a_class_label_column_are_unknown_labels(
    wordlevel_dir, tmp_path, capsys
):
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    unlabelled = save_dataset(tmp_path / "test-split", [-1] * len(ROWS), features)  # GLUE's test
    capsys.readouterr()  # the saving's progress bars
    code, _, err = run_main(
        train_args(["--dataset", unlabelled], wordlevel_dir, tmp_path / "r"), capsys
    )
    assert_one_line_error(code, err, "row 1: unknown label -1: the column's classes are 0..1")


def test_noise_for_a_dataset_is_made_for_its_rows_and_taken(data, wordlevel_dir, tmp_path, capsys):
    noise = tmp_path / "noise.jsonl"
    args = ["generate-noise", "--model", str(wordlevel_dir), "--dataset", data["classes"]]
    code, _, err = run_main([*args, "--ratio", "2", "-o", str(noise)], capsys)
    assert code == 0, err
    rows = read_labelled_dataset(data["classes"], "train")
    tsv_rows = read_labelled(data["tsv"] / "train.tsv", label_names=["neg", "pos"])
    assert task_fingerprint(rows) == task_fingerprint(tsv_rows)
    tokenizer = tokenizer_fingerprint(load_tokenizer(str(wordlevel_dir)))
    assert len(read_noise(noise, task=task_fingerprint(rows), tokenizer=tokenizer)) == 80
    nce = ["--energy", "hidden", "--noise-file", str(noise)]
    run = tmp_path / "run"
    code, _, err = run_main(
        train_args(["--dataset", data["classes"]], wordlevel_dir, run, *nce), capsys
    )
    assert code == 0, err
    assert "nce_noise" in metrics(run)[0]
    # The validation split is not the training data: noise made for it is refused.
    other = tmp_path / "other.jsonl"
    code, _, err = run_main([*args, "--split", "validation", "-o", str(other)], capsys)
    assert code == 0, err
    nce[-1] = str(other)
    code, _, err = run_main(
        train_args(["--dataset", data["classes"]], wordlevel_dir, tmp_path / "r2", *nce), capsys
    )
    assert_one_line_error(code, err, "noise made for another task")


def test_calibration_reads_dataset_splits_as_it_reads_files(data, wordlevel_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_main(train_args(["--dataset", data["classes"]], wordlevel_dir, run), capsys)
    assert code == 0, err
    tsv = ["--data", str(data["tsv"] / "dev.tsv"), "--fit", str(data["tsv"] / "train.tsv")]
    tsv += ["--labels", "neg,pos"]
    dataset = ["--dataset", data["classes"], "--data", "validation", "--fit", "train"]
    summaries = []
    for source, report in ((tsv, tmp_path / "tsv"), (dataset, tmp_path / "dataset")):
        args = ["eval", "calibration", "--model", str(run), *source, "--resamples", "20"]
        code, _, err = run_main([*args, "-o", str(report)], capsys)
        assert code == 0, err
        summaries.append(json.loads((report / "summary.json").read_text()))
    for key in ("raw", "scaled", "temperature", "n_fit", "n_report", "protocol"):
        assert summaries[0][key] == summaries[1][key], key
    assert summaries[1]["n_report"] == 8 and summaries[1]["protocol"] == "fit-then-report"
    args = ["eval", "calibration", "--model", str(run), "--dataset", data["classes"]]
    code, _, err = run_main([*args, "--data", "test", "-o", str(tmp_path / "bad")], capsys)
    assert_one_line_error(code, err, "has no split 'test'")
