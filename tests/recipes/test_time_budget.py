"""Time-budgeted training: the schedule follows the clock and the run stops when time is up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from textebm.recipes.config import ClmConfig
from textebm.recipes.loop import learning_rate


def test_schedule_over_minutes(make_config):
    config = make_config(
        ClmConfig, max_steps=10, warmup_fraction=0.1, learning_rate=1.0, time_budget=10.0
    )
    assert learning_rate(config, 0, elapsed=0.5) == pytest.approx(0.5)  # half-way up the warm-up
    assert learning_rate(config, 0, elapsed=1.0) == pytest.approx(1.0)
    assert learning_rate(config, 0, elapsed=5.5) == pytest.approx(0.5)  # linear decay: (1 + 10)/2
    assert learning_rate(config, 9, elapsed=10.0) == 0.0
    assert learning_rate(config, 9, elapsed=20.0) == 0.0  # past the budget: stays at 0
    # Without elapsed minutes the step-based schedule applies as before.
    assert learning_rate(config, 0) == pytest.approx(1.0)
    with pytest.raises(Exception, match="time_budget"):
        make_config(ClmConfig, time_budget=-1.0)


def test_run_stops_when_the_budget_is_spent_and_saves_the_model(make_config):
    from textebm.recipes.clm import train_clm

    # A budget of ~0 minutes: the first step spends it, so the run ends there, finished.
    output = train_clm(make_config(ClmConfig, max_steps=50, time_budget=1e-9))
    lines = [json.loads(x) for x in (Path(output) / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"]) for r in lines] == [(1, "train"), (1, "validation")]
    assert lines[0]["minutes"] > 0 and lines[0]["learning_rate"] == 0.0  # the budget is spent
    state = json.loads((Path(output) / "checkpoints" / "step-00000001" / "state.json").read_text())
    assert state["minutes"] > 0
    AutoModelForCausalLM.from_pretrained(output)


def test_a_run_saved_before_a_field_existed_still_resumes(make_config):
    from textebm.recipes.clm import train_clm

    config = make_config(ClmConfig, max_steps=3, checkpoint_every=3)
    output = train_clm(config, stop_after=3)
    saved = Path(output) / "train_config.json"
    values = json.loads(saved.read_text())
    del values["time_budget"]  # as written by an older textebm
    saved.write_text(json.dumps(values))
    train_clm(make_config(ClmConfig, max_steps=3, checkpoint_every=3))  # no configuration error
