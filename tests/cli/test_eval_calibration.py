"""`textebm eval calibration` end to end on a tiny random classifier, and its bad inputs."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from transformers import BertForSequenceClassification

from textebm.cli import main as cli_main
from textebm.cli.eval_calibration import register_calibration
from textebm.eval.calibration import auroc, calibration_metrics, fit_temperature, half_split
from textebm.models.loading import load_sequence_classifier
from textebm.models.tiny import tiny_bert_config, wordlevel_tokenizer

WORDS = (
    "the cat dog bird man woman child sat ran saw ate sang on in under big small old red".split()
)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A random tiny BERT with a three-way head, init_scale 20 so that its logits spread."""
    folder = tmp_path_factory.mktemp("classifier")
    tokenizer = wordlevel_tokenizer()
    config = tiny_bert_config(
        len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=3, initializer_range=0.4
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _sentences(n: int, seed: int) -> list[str]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=generator).tolist()
    return [
        " ".join(WORDS[i] for i in torch.randint(len(WORDS), (k,), generator=generator).tolist())
        for k in lengths
    ]


def _tsv(path, rows, header=("sentence", "label")):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    texts = _sentences(60, seed=1)
    labels = [(3 * i) % 7 % 3 for i in range(60)]
    return {
        "rows": list(zip(texts, labels, strict=True)),
        "dev": _tsv(folder / "dev.tsv", zip(texts, labels, strict=True)),
        "test": _tsv(
            folder / "test.tsv", zip(_sentences(40, 2), [i % 3 for i in range(40)], strict=True)
        ),
        "ood": (folder / "ood.txt"),
        "folder": folder,
    }


def _eval(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Through the real entry point, with an `eval` command that holds only `calibration`."""

    def build_parser():
        parser = cli_main._Parser(prog="textebm")
        commands = parser.add_subparsers(
            dest="command", required=True, parser_class=cli_main._Parser
        )
        evaluate = commands.add_parser("eval")
        register_calibration(evaluate.add_subparsers(dest="evaluation", required=True))
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build_parser)
    code = cli_main.main(["eval", "calibration", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def classifier(classifier_dir):
    return load_sequence_classifier(str(classifier_dir), device="cpu")


def _logits(classifier, texts, pairs=None) -> torch.Tensor:
    """One sentence at a time, no padding: the reference the batched logits must match."""
    model, tokenizer = classifier
    rows = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            batch = tokenizer(text, None if pairs is None else pairs[i], return_tensors="pt")
            rows.append(model(**batch).logits[0])
    return torch.stack(rows).double()


@pytest.mark.slow
def test_half_split_report(classifier_dir, classifier, data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report"
    args = ["--model", str(classifier_dir), "--data", str(data["dev"]), "-o", str(out)]
    code, stdout, err = _eval(
        [*args, "--batch-size", "7", "--resamples", "200"], monkeypatch, capsys
    )
    assert code == 0, err
    assert "half-split" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "half-split" and summary["num_labels"] == 3
    assert summary["n_fit"] == 30 and summary["n_report"] == 30 and summary["n_bins"] == 20
    # Recomputed independently: unbatched logits, the seeded halves, NLL temperature.
    texts, labels = zip(*data["rows"], strict=True)
    logits, labels = _logits(classifier, texts), torch.tensor(labels)
    fit, report = half_split(60, seed=0)
    temperature = fit_temperature(logits[fit], labels[fit])
    assert summary["temperature"] == pytest.approx(temperature, rel=1e-4)
    for name, t in (("raw", 1.0), ("scaled", temperature)):
        expected = calibration_metrics(logits[report], labels[report], t).as_dict()
        assert summary[name] == pytest.approx(expected, abs=1e-5)
        assert set(summary[name]) == {"accuracy", "ece", "mce", "brier", "nll"}
        for metric, (low, high) in summary["intervals"][name].items():
            assert 0 <= low <= high, metric
    assert summary["scaled"]["nll"] != summary["raw"]["nll"]
    for png in summary["figures"].values():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["summary.json", *summary["figures"].values()]
    )
    # Another seed, another split (the same seed matched the recomputation above); and the
    # report folder is overwritten in place.
    code, _, err = _eval([*args, "--resamples", "200", "--seed", "1"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["raw"] != pytest.approx(summary["raw"])


@pytest.mark.slow
def test_fit_then_report_with_ood_and_label_names(
    classifier_dir, classifier, data, tmp_path, monkeypatch, capsys
):
    folder = data["folder"]
    names = ["neg", "neu", "pos"]
    dev = _tsv(folder / "dev_named.tsv", [(t, names[y]) for t, y in data["rows"]])
    test_rows = [line.split("\t") for line in data["test"].read_text().splitlines()[1:]]
    test = _tsv(folder / "test_named.tsv", [(t, names[int(y)]) for t, y in test_rows])
    ood_texts = _sentences(25, seed=3)
    ood = folder / "ood.txt"
    ood.write_text("\n".join(ood_texts) + "\n")
    out = tmp_path / "report"
    args = ["--model", str(classifier_dir), "--data", str(test), "--fit", str(dev)]
    args += ["--ood", str(ood), "--labels", ",".join(names), "-o", str(out), "--resamples", "300"]
    code, _, err = _eval([*args, "--temperature-method", "ece-grid"], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"] == "fit-then-report"
    assert summary["n_fit"] == 60 and summary["n_report"] == 40
    assert summary["temperature_method"] == "ece-grid"
    texts, labels = zip(*data["rows"], strict=True)
    fit_logits = _logits(classifier, texts)
    assert summary["temperature"] == fit_temperature(fit_logits, torch.tensor(labels), "ece-grid")
    for name in ("raw", "scaled"):
        for metric, (low, high) in summary["intervals"][name].items():
            if metric != "ece":  # ECE's bootstrap is biased upward; the others are means
                assert low <= summary[name][metric] <= high, (name, metric)
    inside = _logits(classifier, [t for t, _ in test_rows])
    outside = _logits(classifier, ood_texts)
    ood_report = summary["ood_auroc"]
    assert ood_report["n_in"] == 40 and ood_report["n_out"] == 25
    assert set(ood_report["auroc"]) == {"msp", "hidden", "sharp-hidden"}
    expected = auroc(-torch.logsumexp(inside, -1), -torch.logsumexp(outside, -1))
    assert ood_report["auroc"]["hidden"] == pytest.approx(expected, abs=1e-6)
    expected = auroc(-inside.max(-1).values, -outside.max(-1).values)
    assert ood_report["auroc"]["sharp-hidden"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_sentence_pairs(classifier_dir, classifier, data, tmp_path, monkeypatch, capsys):
    firsts, seconds = _sentences(20, seed=4), _sentences(20, seed=5)
    rows = [(a, b, i % 3) for i, (a, b) in enumerate(zip(firsts, seconds, strict=True))]
    pairs = _tsv(tmp_path / "pairs.tsv", rows, header=("s1", "s2", "y"))
    out = tmp_path / "report"
    args = ["--model", str(classifier_dir), "--data", str(pairs), "-o", str(out)]
    args += ["--text-column", "s1", "--text-pair-column", "s2", "--label-column", "y"]
    code, _, err = _eval([*args, "--resamples", "50", "--batch-size", "3"], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    logits, labels = _logits(classifier, firsts, seconds), torch.tensor([r[2] for r in rows])
    _, report = half_split(20, seed=0)
    expected = calibration_metrics(logits[report], labels[report]).as_dict()
    assert summary["raw"] == pytest.approx(expected, abs=1e-5)
    alone = calibration_metrics(_logits(classifier, firsts)[report], labels[report])
    assert summary["raw"]["nll"] != pytest.approx(alone.nll, abs=1e-5)  # the pair was read


def test_scalar_energy_head_joins_the_ood_report(data, tmp_path, monkeypatch, capsys):
    """A classifier saved with its scalar energy head (`energy_head/`): its AUROC is reported too,
    equal to that of the head's energies scored through `ClassifierEnergy`."""
    from textebm.energies import ClassifierEnergy
    from textebm.models.loading import load_classifier
    from textebm.models.tiny import build_tiny_classifier

    folder = build_tiny_classifier(
        tmp_path / "with_head", num_labels=3, energy_head=True, init_scale=20.0
    )
    rows = data["rows"][:20]
    dev = _tsv(tmp_path / "dev.tsv", rows)
    ood_texts = _sentences(10, seed=8)
    ood = tmp_path / "ood.txt"
    ood.write_text("\n".join(ood_texts) + "\n")
    args = [
        "--model",
        str(folder),
        "--data",
        str(dev),
        "--ood",
        str(ood),
        "-o",
        str(tmp_path / "r"),
    ]
    code, _, err = _eval([*args, "--resamples", "20"], monkeypatch, capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "r" / "summary.json").read_text())["ood_auroc"]["auroc"]
    assert set(report) == {"msp", "hidden", "sharp-hidden", "scalar"}
    model, tokenizer, head = load_classifier(str(folder), device="cpu")
    energy = ClassifierEnergy(model, tokenizer, kind="scalar", head=head)
    inside = torch.tensor([item.energy for item in energy.score_texts([t for t, _ in rows])])
    outside = torch.tensor([item.energy for item in energy.score_texts(ood_texts)])
    assert report["scalar"] == pytest.approx(auroc(inside, outside), abs=1e-6)


def test_logits_batched_by_length_keep_order_and_truncate(classifier):
    from textebm.eval.calibration_report import classifier_logits

    texts = _sentences(9, seed=6)
    batched, truncated, scalar = classifier_logits(*classifier, texts, batch_size=4)
    assert truncated == 0 and scalar is None
    assert batched.double() == pytest.approx(_logits(classifier, texts), abs=1e-4)
    # max_length counts [CLS] and [SEP]: 4 keeps two words of each text.
    cut, truncated, _ = classifier_logits(*classifier, texts, batch_size=4, max_length=4)
    assert truncated == sum(len(t.split()) > 2 for t in texts) > 0
    short = [" ".join(t.split()[:2]) for t in texts]
    assert cut.double() == pytest.approx(_logits(classifier, short), abs=1e-4)


def _bad(tmp_path, data, classifier_dir):
    folder = tmp_path
    (folder / "a_file").write_text("x\n")
    blank = folder / "blank.txt"
    blank.write_text("the cat\n\nthe dog\n")
    return {
        "unknown label": (
            ["--data", str(_tsv(folder / "u.tsv", [("the cat", 0), ("a dog", 5)]))],
            "unknown label 5",
        ),
        "superscript label": (  # "²".isdigit() is True, but int("²") raises
            ["--data", str(_tsv(folder / "s.tsv", [("the cat", 0), ("a dog", "\u00b2")]))],
            "line 3: unknown label '\u00b2': labels are integers",
        ),
        "unknown name": (["--data", str(data["dev"]), "--labels", "x,y,z"], "unknown label '"),
        "label count": (
            [
                "--data",
                str(_tsv(folder / "n.tsv", [("the cat", "a"), ("a dog", "b")])),
                "--labels",
                "a,b",
            ],
            "names 2 labels",
        ),
        "missing column": (
            ["--data", str(data["dev"]), "--label-column", "gold"],
            "no column 'gold'",
        ),
        "empty text": (
            ["--data", str(_tsv(folder / "e.tsv", [("the cat", 0), (" ", 1)]))],
            "empty text",
        ),
        "one row": (["--data", str(_tsv(folder / "one.tsv", [("the cat", 0)]))], "half-split"),
        "no data file": (["--data", str(folder / "nope.tsv")], "not found"),
        "blank ood line": (["--data", str(data["dev"]), "--ood", str(blank)], "line 2 is empty"),
        "masked LM": (["--data", str(data["dev"]), "--model", "MLM"], "not a trained sequence"),
        "no model": (["--data", str(data["dev"]), "--model", str(folder / "none")], "not found"),
        "output is a file": (
            ["--data", str(data["dev"]), "-o", str(folder / "a_file")],
            "is a file",
        ),
        "no output parent": (
            ["--data", str(data["dev"]), "-o", str(folder / "x" / "y")],
            "does not exist",
        ),
        "stdout": (["--data", str(data["dev"]), "-o", "-"], "folder"),
        "bad bins": (["--data", str(data["dev"]), "--bins", "0"], "--bins"),
        "bad resamples": (["--data", str(data["dev"]), "--resamples", "0"], "--resamples"),
        "bad method": (["--data", str(data["dev"]), "--temperature-method", "x"], "invalid choice"),
    }


BAD = [
    "unknown label",
    "superscript label",
    "unknown name",
    "label count",
    "missing column",
    "empty text",
    "one row",
    "no data file",
    "blank ood line",
    "masked LM",
    "no model",
    "output is a file",
    "no output parent",
    "stdout",
    "bad bins",
    "bad resamples",
    "bad method",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_exit_2(
    case, classifier_dir, wordlevel_dir, data, tmp_path, monkeypatch, capsys
):
    args, message = _bad(tmp_path, data, classifier_dir)[case]
    args = [str(wordlevel_dir) if a == "MLM" else a for a in args]
    base = {"--model": str(classifier_dir), "-o": str(tmp_path / "report")}
    for flag, value in base.items():
        if flag not in args:
            args = [flag, value, *args]
    if case == "bad method":
        with pytest.raises(SystemExit) as exit_info:
            _eval(args, monkeypatch, capsys)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
    else:
        code, _, err = _eval(args, monkeypatch, capsys)
        assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "report" / "summary.json").exists()


def test_argparse_namespace_has_defaults():
    parser = argparse.ArgumentParser()
    register_calibration(parser.add_subparsers())
    args = parser.parse_args(["calibration", "--model", "m", "--data", "d", "-o", "r"])
    assert (args.bins, args.seed, args.resamples, args.temperature_method) == (20, 0, 1000, "nll")
