"""Fault injection for `textebm train`: bad input is one line and exit 2 before the output folder
is touched; a second run on a folder in use stops; a run killed, interrupted or killed while it
writes a checkpoint resumes on the curve of a run never stopped; a damaged checkpoint is passed
over for the newest intact one, or stops the run with one line when none is intact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.cli.faults import assert_one_line_error, run_main, scratch_files
from textebm.data.tokenizers import train_tokenizer

HARNESS = Path(__file__).with_name("train_harness.py")
TINY = "--layers 1 --hidden-size 32 --heads 2 --intermediate-size 64 --context-length 16".split()
# Eight steps, a checkpoint every second one, the two newest kept: enough to fall back on.
RUN = [*TINY, *"--batch-size 8 --log-every 1 --max-steps 8 --eval-every 4".split()]
RUN += ["--checkpoint-every", "2", "--keep-checkpoints", "2"]


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    monkeypatch.setenv("CI", "1")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A corpus, a validation file and a word-level tokenizer."""
    folder = tmp_path_factory.mktemp("faults-train")
    words = "the a cat dog sat ran on in big small red old . and".split()
    lines = [
        " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(3 + i % 6)) for i in range(120)
    ]
    (folder / "train.txt").write_text("\n".join(lines[:100]) + "\n")
    (folder / "valid.txt").write_text("\n".join(lines[100:]) + "\n")
    train_tokenizer(lines[:100], kind="wordlevel", model_max_length=32).save_pretrained(
        folder / "tok"
    )
    return folder


def data(files: Path) -> list[str]:
    return [
        "--corpus", str(files / "train.txt"),
        "--validation", str(files / "valid.txt"),
        "--tokenizer", str(files / "tok"),
    ]  # fmt: skip


def train_args(files: Path, output: Path, *extra: str) -> list[str]:
    return ["train", "clm", *data(files), *RUN, "--output", str(output), *extra]


def curve(output: Path) -> list[tuple]:
    """Every record but its timing: what a resumed run must reproduce exactly."""
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [
        tuple((k, v) for k, v in json.loads(line).items() if k != "tokens_per_second")
        for line in lines
    ]


@pytest.fixture(scope="module")
def straight(files, tmp_path_factory) -> Path:
    """The reference: the same run, never stopped."""
    output = tmp_path_factory.mktemp("straight") / "run"
    from textebm.cli.main import main

    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse one is not active
        patch.setenv("CI", "1")
        assert main(train_args(files, output)) == 0
    return output


def harness(action: str, step: int, argv: list[str], *flag: str) -> subprocess.Popen:
    """`textebm ARGV` in a child process, with `action` injected at `step` (train_harness.py)."""
    # As many threads as this process, which finishes the runs: the same sums in the same order.
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    command = [sys.executable, str(HARNESS), action, str(step), *flag, "--", *argv]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- bad input: one line, exit 2, nothing written -------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--batch-size", "0"], "batch_size must be at least 1"),
        (["--max-steps", "-3"], "max_steps must be at least 1"),
        (["--keep-checkpoints", "0"], "keep_checkpoints must be at least 1"),
        (["--checkpoint-every", "-1"], "checkpoint_every must be 0 or more"),
        (["--lr", "0"], "learning_rate must be positive"),
        (["--dropout", "1.5"], "dropout"),
        (["--heads", "3"], "not a multiple of heads"),
        (["--max-steps", "many"], "--max-steps"),
        (["--preset", "huge"], "huge"),
    ],
)
def test_bad_values_are_one_line_and_write_nothing(files, tmp_path, flags, needle, capsys):
    code, _, err = run_main_or_exit([*train_args(files, tmp_path / "run"), *flags], capsys)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def run_main_or_exit(argv: list[str], capsys) -> tuple[int, str, str]:
    """`run_main`, counting argparse's own SystemExit as the exit code."""
    try:
        return run_main(argv, capsys)
    except SystemExit as error:
        captured = capsys.readouterr()
        return int(error.code), captured.out, captured.err


@pytest.mark.parametrize(
    ("missing", "needle"),
    [("corpus", "not found"), ("tokenizer", "tokenizer"), ("validation", "not found")],
)
def test_missing_corpus_or_tokenizer(files, tmp_path, missing, needle, capsys):
    argv = train_args(files, tmp_path / "run")
    argv[argv.index(f"--{missing}") + 1] = str(tmp_path / "absent")
    code, _, err = run_main(argv, capsys)
    assert_one_line_error(code, err, needle, "absent")
    assert not (tmp_path / "run").exists()


def test_init_from_a_masked_lm_is_refused(files, tmp_path, capsys):
    """A BERT masked LM loads as a causal LM (BertLMHeadModel, bidirectional): trained as one it
    would see the tokens it predicts. The folder's architectures decide, before any work."""
    from textebm.models.tiny import build_tiny_mlm

    mlm = build_tiny_mlm(tmp_path / "mlm")
    code, _, err = run_main(train_args(files, tmp_path / "run", "--init-from", str(mlm)), capsys)
    assert_one_line_error(code, err, "BertForMaskedLM", "not a causal LM")
    assert not (tmp_path / "run").exists()


def test_an_init_from_that_fails_to_load_leaves_no_run_behind(files, tmp_path, capsys):
    """The model is built before the folder is claimed: a failed start leaves no train_config.json
    that would refuse the corrected command as "another configuration"."""
    from textebm.models.tiny import build_tiny_electric

    electric = build_tiny_electric(tmp_path / "electric")
    code, _, err = run_main(
        train_args(files, tmp_path / "run", "--init-from", str(electric)), capsys
    )
    assert_one_line_error(code, err, "--init-from")
    assert not (tmp_path / "run").exists()


def test_output_naming_a_file_is_refused_and_the_file_survives(files, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    code, _, err = run_main(train_args(files, target), capsys)
    assert_one_line_error(code, err, str(target), "is a file")
    assert target.read_text() == "keep me\n"
    assert scratch_files(tmp_path) == []


# -- concurrent runs ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_on_a_folder_in_use_stops_and_the_first_is_undisturbed(
    files, tmp_path, straight, capsys
):
    """Two real processes: the child holds the folder (paused after step 3) while this process
    starts a second run on it."""
    output, flag = tmp_path / "run", str(tmp_path / "flag")
    child = harness("pause-after-record", 3, train_args(files, output), flag)
    deadline = time.time() + 240
    while not Path(flag + ".ready").exists():
        assert child.poll() is None, child.communicate()[1].decode()[-3000:]
        assert time.time() < deadline, "the first run never reached step 3"
        time.sleep(0.1)
    before = (output / "metrics.jsonl").read_bytes()
    code, _, err = run_main(train_args(files, output), capsys)
    assert_one_line_error(code, err, "another textebm train run is using", str(output))
    assert (output / "metrics.jsonl").read_bytes() == before  # the second run wrote nothing
    Path(flag + ".go").touch()
    _, child_err = child.communicate(timeout=240)
    assert child.returncode == 0, child_err.decode()[-3000:]
    assert curve(output) == curve(straight)  # no duplicated or out-of-order records
    # The lock went with the first run: a third one finds the run complete and leaves it.
    code, _, err = run_main(train_args(files, output), capsys)
    assert code == 0, err
    assert curve(output) == curve(straight)


# -- kills, interrupts and resumes ----------------------------------------------------------------


@pytest.mark.slow
def test_killed_at_two_steps_once_while_checkpointing_resumes_on_the_same_curve(
    files, tmp_path, straight, capsys
):
    output = tmp_path / "run"
    checkpoints = output / "checkpoints"
    # SIGKILL after step 3's record: checkpoint 2 holds, record 3 is redone.
    child = harness("kill-after-record", 3, train_args(files, output))
    child.communicate(timeout=240)
    assert child.returncode == -signal.SIGKILL
    assert [p.name for p in checkpoints.iterdir()] == ["step-00000002"]
    # SIGKILL half-way through writing checkpoint 6: its scratch folder is all it leaves.
    child = harness("kill-in-checkpoint", 6, train_args(files, output))
    child.communicate(timeout=240)
    assert child.returncode == -signal.SIGKILL
    assert sorted(p.name for p in checkpoints.iterdir() if not p.name.startswith(".")) == [
        "step-00000002",
        "step-00000004",
    ]
    assert [p.name for p in checkpoints.iterdir() if p.name.startswith(".step-00000006")]
    code, _, err = run_main(train_args(files, output), capsys)
    assert code == 0, err
    assert err == ""  # no warning (the kill left no damaged checkpoint), no progress bar
    assert curve(output) == curve(straight)
    assert scratch_files(checkpoints) == []
    final, reference = (
        load_file(output / "model.safetensors"),
        load_file(straight / "model.safetensors"),
    )
    assert all(torch.equal(final[name], reference[name]) for name in reference)


def test_interrupt_is_one_line_exit_130_and_the_run_resumes(files, tmp_path, straight, capsys):
    """A real SIGINT, delivered to a child process right after step 5's record (in a child with
    Ctrl-C's usual handler: a test run started as a background job has SIGINT ignored)."""
    output = tmp_path / "run"
    child = harness("interrupt-after-record", 5, train_args(files, output))
    _, err = child.communicate(timeout=600)
    assert child.returncode == 130, err.decode()
    # A fresh process may print a library warning first; the interrupt itself is one line.
    assert err.decode().splitlines()[-1] == "textebm train: interrupted"
    assert "Traceback" not in err.decode()
    assert not (output / "model.safetensors").exists()
    assert scratch_files(output / "checkpoints") == []
    code, _, err = run_main(train_args(files, output), capsys)  # the lock was released
    assert code == 0, err
    assert curve(output) == curve(straight)


def test_saving_the_final_model_draws_no_progress_bar(files, tmp_path, capsys):
    from transformers.utils import logging

    logging.enable_progress_bar()  # as a fresh process has it: another test may have quieted it
    code, _, err = run_main(train_args(files, tmp_path / "run", "--max-steps", "2"), capsys)
    assert code == 0, err
    assert err == ""
    assert logging.is_progress_bar_enabled()  # restored for the Python user


# -- damaged checkpoints --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped(files, tmp_path_factory) -> Path:
    """The run stopped after step 7: checkpoints 4 and 6 on disk."""
    from textebm.recipes.clm import train_clm
    from textebm.recipes.config import ClmConfig

    output = tmp_path_factory.mktemp("stopped") / "run"
    config = ClmConfig(
        corpus=str(files / "train.txt"),
        validation=str(files / "valid.txt"),
        tokenizer=str(files / "tok"),
        output=str(output),
        layers=1, hidden_size=32, heads=2, intermediate_size=64, context_length=16,
        batch_size=8, log_every=1, max_steps=8, eval_every=4, checkpoint_every=2,
        keep_checkpoints=2,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CI", "1")
        train_clm(config, stop_after=7)
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == [
        "step-00000004",
        "step-00000006",
    ]
    return output


def _truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _flip_a_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # the last weight's last byte: same size, still loads, wrong value
    file.write_bytes(bytes(data))


def _forget_hashes(state: Path) -> None:
    """Make the checkpoint look like one written before sizes and hashes were recorded."""
    record = json.loads(state.read_text())
    del record["files"]
    state.write_text(json.dumps(record))


DAMAGE = {
    "truncated weights": lambda c: _truncate(c / "model.safetensors"),
    "deleted optimizer state": lambda c: (c / "optimizer.pt").unlink(),
    "a flipped byte": lambda c: _flip_a_byte(c / "model.safetensors"),
    "truncated optimizer state": lambda c: _truncate(c / "optimizer.pt"),
    "garbled state.json": lambda c: (c / "state.json").write_text("{"),
    "old checkpoint, truncated": lambda c: (
        _forget_hashes(c / "state.json"),
        _truncate(c / "optimizer.pt"),
    ),
}
NEEDLES = {
    "truncated weights": "model.safetensors holds",
    "deleted optimizer state": "optimizer.pt is missing",
    "a flipped byte": "model.safetensors differs",
    "truncated optimizer state": "optimizer.pt holds",
    "garbled state.json": "state.json",
    "old checkpoint, truncated": "optimizer.pt does not load",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_falls_back_to_the_newest_intact_one(
    stopped, straight, tmp_path, files, damage, capsys
):
    output = tmp_path / "run"
    shutil.copytree(stopped, output)
    DAMAGE[damage](output / "checkpoints" / "step-00000006")
    code, _, err = run_main(train_args(files, output), capsys)
    assert code == 0, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "warning: checkpoint step-00000006 is damaged" in err, err
    assert NEEDLES[damage] in err and "resuming from step-00000004" in err, err
    assert curve(output) == curve(straight)  # steps 5 to 8 redone, exactly


def test_an_old_checkpoint_without_hashes_is_trusted_if_it_loads(
    stopped, straight, tmp_path, files, capsys
):
    output = tmp_path / "run"
    shutil.copytree(stopped, output)
    _forget_hashes(output / "checkpoints" / "step-00000006" / "state.json")
    code, _, err = run_main(train_args(files, output), capsys)
    assert (code, err) == (0, "")
    assert curve(output) == curve(straight)


def test_no_intact_checkpoint_is_one_line_and_leaves_them_for_inspection(
    stopped, tmp_path, files, capsys
):
    output = tmp_path / "run"
    shutil.copytree(stopped, output)
    _truncate(output / "checkpoints" / "step-00000006" / "model.safetensors")
    (output / "checkpoints" / "step-00000004" / "optimizer.pt").unlink()
    metrics = (output / "metrics.jsonl").read_bytes()
    code, _, err = run_main(train_args(files, output), capsys)
    assert_one_line_error(code, err, "no intact checkpoint", "step-00000006", "--overwrite")
    assert (output / "metrics.jsonl").read_bytes() == metrics
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == [
        "step-00000004",
        "step-00000006",
    ]
    assert not (output / "model.safetensors").exists()
