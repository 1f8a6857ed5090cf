"""--mixed-precision auto: resolved per machine, saved as resolved, recorded with the machine's
measured rate and the tokens trained; old run folders still resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from textebm.errors import UsageError
from textebm.recipes.config import ClmConfig, load_config, resolve_mixed_precision


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture
def machine(monkeypatch):
    """machine(bf16_fast): make this machine report (or not) hardware that runs bf16 faster."""

    def set_machine(bf16_fast: bool) -> None:
        monkeypatch.setattr("textebm.hardware.bf16_is_fast", lambda *args: bf16_fast)

    return set_machine


def test_auto_is_the_default_and_resolves_by_the_hardware(make_config, machine):
    config = make_config(ClmConfig)
    assert config.mixed_precision == "auto"
    machine(False)
    assert resolve_mixed_precision(config).mixed_precision == "no"
    machine(True)
    assert resolve_mixed_precision(config).mixed_precision == "bf16"
    explicit = make_config(ClmConfig, mixed_precision="no")
    assert resolve_mixed_precision(explicit).mixed_precision == "no"  # only auto is resolved
    assert config.mixed_precision == "auto"  # the caller's config is left as it was


@pytest.mark.parametrize("field", ["mixed_precision", "schedule"])
def test_a_value_outside_the_choices_is_a_one_line_error(make_config, tmp_path, field):
    with pytest.raises(UsageError, match=f"unknown {field} 'fp8'; choose one of"):
        make_config(ClmConfig, **{field: "fp8"})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({field: "fp8"}))
    with pytest.raises(UsageError, match=f"unknown {field} 'fp8'") as error:
        load_config(ClmConfig, {"corpus": "c", "tokenizer": "t", "output": "o"}, str(path))
    assert "\n" not in str(error.value)


def test_a_config_file_with_a_bad_precision_exits_2(make_config, tmp_path, capsys):
    from textebm.cli.main import main

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"mixed_precision": "fp8"}))
    argv = ["train", "clm", "--config", str(path), "--corpus", "c", "--tokenizer", "t"]
    assert main([*argv, "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown mixed_precision 'fp8'" in err and "\n" not in err


def test_the_run_records_the_resolved_precision_rate_and_tokens(make_config, machine):
    from textebm.recipes.clm import train_clm

    machine(False)  # no AMX, no GPU: fp32
    output = Path(train_clm(make_config(ClmConfig, max_steps=4, eval_every=2)))
    assert json.loads((output / "train_config.json").read_text())["mixed_precision"] == "no"
    [session] = lines(output / "sessions.jsonl")
    assert session["step"] == 0 and session["tokens_trained"] == 0
    assert session["mixed_precision"] == "no" and session["matmul_gflops_fp32"] > 0
    assert "matmul_gflops_bf16" not in session
    metrics = lines(output / "metrics.jsonl")
    train = [r for r in metrics if r["split"] == "train"]
    running = [sum(r["tokens"] for r in train[: i + 1]) for i in range(len(train))]
    assert [r["tokens_trained"] for r in train] == running and running[-1] > 0
    at_step = {r["step"]: r["tokens_trained"] for r in train}
    for record in (r for r in metrics if r["split"] == "validation"):
        assert record["tokens_trained"] == at_step[record["step"]]
    state = json.loads((output / "checkpoints" / "step-00000004" / "state.json").read_text())
    assert state["tokens"] == running[-1]


def test_auto_resolving_to_bf16_trains_in_it(make_config, machine):
    from textebm.recipes.clm import train_clm

    if not torch.cpu._is_avx512_bf16_supported() and not torch.cuda.is_available():
        pytest.skip("no bf16 support here")
    machine(True)  # as on a CPU with AMX
    output = Path(train_clm(make_config(ClmConfig, max_steps=2)))
    assert json.loads((output / "train_config.json").read_text())["mixed_precision"] == "bf16"
    [session] = lines(output / "sessions.jsonl")
    assert session["mixed_precision"] == "bf16" and session["matmul_gflops_bf16"] > 0


def test_auto_resumes_on_the_same_machine_and_names_the_change_on_another(make_config, machine):
    from textebm.recipes.clm import train_clm

    machine(False)
    config = make_config(ClmConfig, max_steps=6, checkpoint_every=3)
    train_clm(config, stop_after=4)
    machine(True)  # a machine where auto means bf16: the trajectory would change
    with pytest.raises(UsageError, match="mixed_precision: 'no' -> 'bf16'"):
        train_clm(config)
    machine(False)
    output = Path(train_clm(config))  # the same machine: resumes from step 3
    first, resumed = lines(output / "sessions.jsonl")
    train = {r["step"]: r["tokens_trained"] for r in lines(output / "metrics.jsonl")}
    assert (first["step"], resumed["step"]) == (0, 3)
    assert resumed["tokens_trained"] == train[3] > 0
    assert (output / "model.safetensors").exists()


def test_a_run_saved_before_precision_and_tokens_were_recorded_resumes(make_config, machine):
    from textebm.recipes.clm import train_clm

    machine(False)
    config = make_config(ClmConfig, max_steps=6, checkpoint_every=3)
    output = Path(train_clm(config, stop_after=3))
    saved = json.loads((output / "train_config.json").read_text())
    del saved["mixed_precision"]  # as if written before the field existed: it trained in fp32
    (output / "train_config.json").write_text(json.dumps(saved))
    state_path = output / "checkpoints" / "step-00000003" / "state.json"
    state = json.loads(state_path.read_text())
    del state["tokens"]  # as written before tokens were recorded
    state_path.write_text(json.dumps(state))
    (output / "sessions.jsonl").unlink()
    train_clm(config)  # default auto, resolving to no: no configuration error
    train = [r for r in lines(output / "metrics.jsonl") if r["split"] == "train"]
    assert train[-1]["step"] == 6
    assert train[-1]["tokens_trained"] == sum(r["tokens"] for r in train)  # counted from metrics


def test_summarize_run_states_tokens_precision_and_measured_rates(
    make_config, machine, capsys, monkeypatch
):
    import importlib.util
    import sys

    from textebm.recipes.clm import train_clm

    machine(False)
    output = Path(train_clm(make_config(ClmConfig, max_steps=4, eval_every=2)))
    script = Path(__file__).parents[2] / "experiments" / "summarize_run.py"
    spec = importlib.util.spec_from_file_location("summarize_run", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["summarize_run.py", str(output)])
    module.main()
    printed = capsys.readouterr().out
    [session] = lines(output / "sessions.jsonl")
    train = [r for r in lines(output / "metrics.jsonl") if r["split"] == "train"]
    assert f'"tokens_trained": {train[-1]["tokens_trained"]}' in printed
    assert '"mixed_precision": "no"' in printed
    rate = f"matmul GFLOP/s fp32 {session['matmul_gflops_fp32']:.0f}"
    assert "session from step 0 (0 tokens trained): no on cpu" in printed and rate in printed
    assert '"tokens_trained"' in printed.split("last validation:")[1]


def test_summarize_run_on_a_folder_without_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    """A folder that holds no run (a typo, a run that failed before its first step): exit 2 with
    one line on stderr, not a FileNotFoundError traceback."""
    import importlib.util
    import sys

    script = Path(__file__).parents[2] / "experiments" / "summarize_run.py"
    spec = importlib.util.spec_from_file_location("summarize_run", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for folder in (tmp_path / "absent", tmp_path):
        monkeypatch.setattr(sys, "argv", ["summarize_run.py", str(folder)])
        with pytest.raises(SystemExit) as exit_:
            module.main()
        assert exit_.value.code == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and "metrics.jsonl" in error
