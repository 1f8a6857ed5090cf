"""The encoder-decoder recipe: batch layout, the smoothed loss by hand, training, exact resume,
save/load, and bad input through the command line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.recipes.tiny_run import TINY_RUN
from textebm.cli.main import main
from textebm.data.tokenizers import load_tokenizer_folder, train_tokenizer
from textebm.models.seq2seq import load_seq2seq
from textebm.recipes.loop import Models
from textebm.recipes.seq2seq import PairExample, Seq2Seq, train_seq2seq
from textebm.recipes.seq2seq_config import Seq2SeqConfig
from textebm.samplers.beam import translate_beam

GERMAN = "ein zwei drei vier fünf sechs sieben acht neun zehn".split()
ENGLISH = "one two three four five six seven eight nine ten".split()


def write_pairs(folder: Path, name: str, count: int, seed: int) -> tuple[Path, Path]:
    """Number words, German to English word by word: a translation a tiny model can learn."""
    rng = random.Random(seed)
    sources, targets = [], []
    for _ in range(count):
        words = [rng.randrange(10) for _ in range(rng.randint(2, 6))]
        sources.append(" ".join(GERMAN[w] for w in words))
        targets.append(" ".join(ENGLISH[w] for w in words))
    source, target = folder / f"{name}.de", folder / f"{name}.en"
    source.write_text("\n".join(sources) + "\n")
    target.write_text("\n".join(targets) + "\n")
    return source, target


def write_toy_translation(folder: Path, train: int, valid: int) -> dict:
    """`train` training and `valid` validation pairs and their joint word-level tokenizer, in
    `folder`: {"train": (de, en), "valid": (de, en), "tokenizer": tokenizer folder}."""
    files = {
        "train": write_pairs(folder, "train", train, 1),
        "valid": write_pairs(folder, "valid", valid, 2),
    }
    lines = [line for path in files["train"] for line in path.read_text().splitlines()]
    train_tokenizer(lines, kind="wordlevel", model_max_length=32).save_pretrained(folder / "tok")
    files["tokenizer"] = folder / "tok"
    return files


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """{"train": (de, en), "valid": (de, en), "tokenizer": joint tokenizer folder}."""
    return write_toy_translation(tmp_path_factory.mktemp("pairs"), 120, 16)


def make(pairs, output: Path, **overrides) -> Seq2SeqConfig:
    """A tiny, fast configuration over `pairs` (see `write_toy_translation`) writing to `output`."""
    values = dict(
        source=str(pairs["train"][0]),
        corpus=str(pairs["train"][1]),
        validation_source=str(pairs["valid"][0]),
        validation=str(pairs["valid"][1]),
        tokenizer=str(pairs["tokenizer"]),
        output=str(output),
        **TINY_RUN,
        dropout=0.0,
    )
    return Seq2SeqConfig(**{**values, **overrides})


def records(output) -> list[dict]:
    return [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]


def test_batch_layout_by_hand(pairs):
    tokenizer = load_tokenizer_folder(str(pairs["tokenizer"]))
    objective = Seq2Seq()
    objective.check_tokenizer(tokenizer)
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    examples = [
        PairExample([cls, 11, 12, sep], [cls, 21, sep]),
        PairExample([cls, 13, sep], [cls, 22, 23, sep]),
    ]
    batch = objective.batch(examples, [0, 1], None)
    inputs = batch.inputs
    assert inputs["input_ids"].tolist() == [[cls, 11, 12, sep], [cls, 13, sep, pad]]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert inputs["decoder_input_ids"].tolist() == [[cls, 21, pad], [cls, 22, 23]]
    assert inputs["decoder_attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert inputs["labels"].tolist() == [[21, sep, -100], [22, 23, sep]]
    assert batch.counts == {"loss": 5} and batch.tokens == 7 + 5


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_is_smoothed_cross_entropy_by_hand(pairs, smoothing):
    """Sum over label tokens of -(1 - eps) log p(y) - eps/V sum_v log p(v), by a plain loop."""
    tokenizer = load_tokenizer_folder(str(pairs["tokenizer"]))
    objective = Seq2Seq(label_smoothing=smoothing)
    objective.check_tokenizer(tokenizer)
    torch.manual_seed(0)
    model = objective.build_model(make(pairs, Path("/tmp/unused")), tokenizer).eval()
    sources = [tokenizer(s)["input_ids"] for s in ("ein zwei", "drei vier fünf")]
    targets = [tokenizer(s)["input_ids"] for s in ("one two", "three four five")]
    batch = objective.batch(
        [PairExample(s, t) for s, t in zip(sources, targets, strict=True)], [0, 1], None
    )
    with torch.no_grad():
        loss = float(objective.loss(Models(model), batch.inputs)["loss"])
        expected = 0.0
        for source, target in zip(sources, targets, strict=True):
            logits = model(
                input_ids=torch.tensor([source]), decoder_input_ids=torch.tensor([target[:-1]])
            ).logits[0]
            log_probs = logits.log_softmax(-1)
            for position, label in enumerate(target[1:]):
                row = log_probs[position]
                expected += -(1 - smoothing) * float(row[label]) - smoothing * float(row.mean())
    assert loss == pytest.approx(expected, rel=1e-5)


def test_training_lowers_the_loss_and_the_model_loads_for_beam_search(pairs, tmp_path):
    output = train_seq2seq(
        make(pairs, tmp_path / "run", max_steps=12, eval_every=6, checkpoint_every=0)
    )
    train = [r["loss"] for r in records(output) if r["split"] == "train"]
    valid = [r for r in records(output) if r["split"] == "validation"]
    assert sum(train[-3:]) < sum(train[:3]) - 0.3  # from ln(V) towards the unigram and beyond
    assert valid[-1]["loss"] < valid[0]["loss"] and valid[-1]["pairs"] == 16
    model, tokenizer = load_seq2seq(str(output))
    saved = load_file(str(output / "model.safetensors"))
    assert torch.equal(model.state_dict()["model.shared.weight"], saved["model.shared.weight"])
    result = translate_beam(model, tokenizer, ["ein zwei drei", "zehn"], beam=3)
    vocabulary = set(ENGLISH) | set(GERMAN)
    assert len(result.texts) == 2 and all(set(t.split()) <= vocabulary for t in result.texts)


def test_resume_after_interruption_continues_the_same_curve(pairs, tmp_path):
    straight = train_seq2seq(make(pairs, tmp_path / "straight", label_smoothing=0.1))
    config = make(pairs, tmp_path / "resumed", label_smoothing=0.1)
    train_seq2seq(config, stop_after=5)  # checkpoint at step 3, killed after step 5
    assert not (Path(config.output) / "model.safetensors").exists()
    resumed = train_seq2seq(config)
    skip = {"tokens_per_second"}
    assert [{k: v for k, v in r.items() if k not in skip} for r in records(resumed)] == [
        {k: v for k, v in r.items() if k not in skip} for r in records(straight)
    ]
    for name, tensor in load_file(str(straight / "model.safetensors")).items():
        assert torch.equal(tensor, load_file(str(resumed / "model.safetensors"))[name]), name


def test_pairs_longer_than_the_context_are_left_out(pairs, tmp_path, capsys):
    tokenizer = load_tokenizer_folder(str(pairs["tokenizer"]))
    objective = Seq2Seq()
    objective.check_tokenizer(tokenizer)
    config = make(pairs, tmp_path / "run", context_length=6)  # 4 words + [CLS] + [SEP]
    examples = objective.examples([], tokenizer, config, train=True)
    lines = pairs["train"][0].read_text().splitlines()
    assert len(examples) == sum(len(line.split()) <= 4 for line in lines) < len(lines)
    assert "left out" in capsys.readouterr().err


def cli_args(pairs, output, *extra) -> list[str]:
    return [
        "train", "seq2seq", "--source", str(pairs["train"][0]), "--target", str(pairs["train"][1]),
        "--tokenizer", str(pairs["tokenizer"]), "--output", str(output), "--preset", "tiny",
        "--max-steps", "1", "--batch-size", "4", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--target": "{short}"}, "not line-aligned"),
        ({"--target": "{blank}"}, "line 2 is blank"),
        ({"--target": None}, "pass --source FILE and --target FILE"),
        ({"--validation-source": "{valid}"}, "both --validation-source"),
        ({"--label-smoothing": "1.5"}, "label_smoothing must lie in [0, 1)"),
        ({"--source": "{missing}"}, "input file not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(pairs, tmp_path, capsys, change, message):
    lines = pairs["train"][1].read_text().splitlines()
    (tmp_path / "short.en").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "blank.en").write_text("\n".join([lines[0], "", *lines[2:]]) + "\n")
    names = dict(short=tmp_path / "short.en", blank=tmp_path / "blank.en", missing=tmp_path / "no")
    names["valid"] = pairs["valid"][0]
    args = cli_args(pairs, tmp_path / "run")
    for flag, value in change.items():
        if flag in args:
            index = args.index(flag)
            del args[index : index + 2]
        if value is not None:
            args += [flag, value.format(**names)]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_help_names_the_parallel_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "seq2seq", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--source",
        "--target",
        "--validation-source",
        "--validation-target",
        "--label-smoothing",
    ):
        assert flag in out
