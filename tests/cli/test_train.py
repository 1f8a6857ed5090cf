"""`textebm train`: end to end through the command line, and its one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from tests.two_processes import torchrun_two
from textebm.cli.main import main

TINY = [
    "--layers",
    "1",
    "--hidden-size",
    "32",
    "--heads",
    "2",
    "--intermediate-size",
    "64",
    "--context-length",
    "16",
    "--batch-size",
    "8",
    "--log-every",
    "1",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small corpus, a validation file and a word-level tokenizer trained by the CLI."""
    folder = tmp_path_factory.mktemp("train-cli")
    words = "the a cat dog sat ran on in big small red old . and".split()
    lines = [
        " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 6)) for i in range(120)
    ]
    (folder / "train.txt").write_text("\n".join(lines[:100]) + "\n")
    (folder / "valid.txt").write_text("\n".join(lines[100:]) + "\n")
    assert (
        main(
            [
                "train",
                "tokenizer",
                "--corpus",
                str(folder / "train.txt"),
                "--kind",
                "wordlevel",
                "--output",
                str(folder / "tok"),
            ]
        )
        == 0
    )
    return folder


def data(files) -> list[str]:
    return [
        "--corpus",
        str(files / "train.txt"),
        "--validation",
        str(files / "valid.txt"),
        "--tokenizer",
        str(files / "tok"),
    ]


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    monkeypatch.setenv("CI", "1")


def one_line_error(capsys, argv, *expected) -> str:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as error:  # argparse's own errors
        code = error.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


def test_train_mlm_and_clm_then_resume_is_a_no_op(files, tmp_path, capsys):
    for recipe, auto in (("mlm", AutoModelForMaskedLM), ("clm", AutoModelForCausalLM)):
        argv = [
            "train",
            recipe,
            *data(files),
            *TINY,
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--output",
            str(tmp_path / recipe),
        ]
        assert main(argv) == 0
        assert "model saved to" in capsys.readouterr().out
        auto.from_pretrained(tmp_path / recipe)
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / recipe)
        assert tokenizer.mask_token == "[MASK]" and tokenizer.eos_token == "[SEP]"
        before = (tmp_path / recipe / "metrics.jsonl").read_text()
        assert main(argv) == 0  # the same configuration: finds the run complete
        assert (tmp_path / recipe / "metrics.jsonl").read_text() == before


def test_config_file_with_flags_overriding_it(files, tmp_path):
    (tmp_path / "c.json").write_text(
        json.dumps({"preset": "tiny", "max_steps": 2, "learning_rate": 0.01, "batch_size": 4})
    )
    argv = [
        "train",
        "clm",
        *data(files),
        "--config",
        str(tmp_path / "c.json"),
        "--batch-size",
        "8",
        "--context-length",
        "16",
        "--output",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert (saved["max_steps"], saved["learning_rate"], saved["batch_size"]) == (2, 0.01, 8)
    assert (saved["layers"], saved["hidden_size"]) == (2, 64)  # from the tiny preset


def test_changed_configuration_needs_overwrite(files, tmp_path, capsys):
    base = [
        "train",
        "mlm",
        *data(files),
        *TINY,
        "--max-steps",
        "2",
        "--output",
        str(tmp_path / "run"),
    ]
    assert main(base) == 0
    one_line_error(
        capsys, [*base, "--lr", "0.01"], "another configuration", "learning_rate", "--overwrite"
    )
    assert main([*base, "--lr", "0.01", "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"preset": "huge"}', "unknown preset 'huge'"),
        ('{"max_step": 3}', "unknown configuration field 'max_step'"),
        ('{"max_steps": ', "is not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"batch_size": "many"}', "batch_size must be int"),
    ],
)
def test_bad_config_files(files, tmp_path, capsys, content, expected):
    (tmp_path / "c.json").write_text(content)
    one_line_error(
        capsys,
        [
            "train",
            "mlm",
            *data(files),
            "--config",
            str(tmp_path / "c.json"),
            "--output",
            str(tmp_path / "run"),
        ],
        expected,
    )
    assert not (tmp_path / "run").exists()


def test_bad_input_is_one_line(files, tmp_path, capsys):
    out = ["--output", str(tmp_path / "run")]
    one_line_error(
        capsys,
        [
            "train",
            "mlm",
            "--corpus",
            str(tmp_path / "none.txt"),
            "--tokenizer",
            str(files / "tok"),
            *out,
        ],
        "not found",
        "none.txt",
    )
    one_line_error(
        capsys, ["train", "clm", "--corpus", str(files / "train.txt"), *out], "--tokenizer"
    )
    one_line_error(
        capsys,
        ["train", "clm", *data(files), "--tokenizer", str(tmp_path), *out],
        "holds no tokenizer",
    )
    one_line_error(capsys, ["train", "mlm", *data(files), "--preset", "huge", *out], "huge")
    one_line_error(
        capsys,
        ["train", "mlm", *data(files), "--config", "nope.json", *out],
        "config file not found",
    )
    one_line_error(
        capsys,
        ["train", "mlm", *data(files), "--batch-size", "1000", *out],
        "fewer than --batch-size",
    )
    one_line_error(
        capsys,
        [
            "train",
            "tokenizer",
            "--corpus",
            str(files / "train.txt"),
            "--output",
            str(files / "tok"),
        ],
        "--overwrite",
    )
    assert not (tmp_path / "run").exists()


def _command(files, output, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "textebm",
        "train",
        "clm",
        *data(files),
        *TINY,
        "--output",
        str(output),
        *extra,
    ]


@pytest.mark.slow
def test_killed_run_resumes_on_the_same_curve(files, tmp_path):
    """SIGKILL a real run mid-way (checkpoint every step), resume, compare with a straight run."""
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    flags = ["--max-steps", "100", "--eval-every", "25", "--checkpoint-every", "1"]
    subprocess.run(
        _command(files, tmp_path / "straight", *flags), env=env, check=True, capture_output=True
    )
    process = subprocess.Popen(
        _command(files, tmp_path / "killed", *flags),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not list((tmp_path / "killed").glob("checkpoints/step-0000002*")):
        assert process.poll() is None and time.time() < deadline, "run ended before the kill"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    subprocess.run(
        _command(files, tmp_path / "killed", *flags), env=env, check=True, capture_output=True
    )

    def curve(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["split"], r["loss"]) for r in map(json.loads, lines)]

    assert curve("killed") == curve("straight")


@pytest.mark.slow
def test_torchrun_two_processes(files, tmp_path):
    """The documented multi-process launch: torchrun starts two real gloo processes."""
    command = ["-m", "textebm", "train", "mlm", *data(files), *TINY, "--max-steps", "3"]
    command += ["--output", str(tmp_path / "run")]
    result = torchrun_two(*command, timeout=300)
    if result.returncode != 0:  # seen once in a full-suite run: a gloo peer closing early
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        result = torchrun_two(*command, timeout=300)
    assert result.returncode == 0, result.stderr[-6000:]
    state = json.loads((tmp_path / "run/checkpoints/step-00000003/state.json").read_text())
    assert state["processes"] == 2
    AutoModelForMaskedLM.from_pretrained(tmp_path / "run")
    # Another configuration on the same folder: both processes stop with the main one's error.
    mismatch = [*command[:-2], "--seed", "1", *command[-2:]]
    result = torchrun_two(*mismatch, timeout=300)
    assert result.returncode != 0
    assert result.stderr.count("holds a run with another configuration") == 2, result.stderr[-4000:]
