"""Recipe configuration: presets, file and flag precedence, one-line errors."""

from __future__ import annotations

import json

import pytest

from textebm.errors import UsageError
from textebm.recipes.config import PRESETS, ClmConfig, MlmConfig, load_config

REQUIRED = dict(corpus="c.txt", tokenizer="tok", output="out")


def test_presets_fill_unset_sizes_and_explicit_values_win():
    small = MlmConfig(preset="small", **REQUIRED)
    assert (small.layers, small.hidden_size, small.learning_rate) == (4, 256, 5e-4)
    custom = MlmConfig(preset="base", layers=3, learning_rate=1e-3, **REQUIRED)
    assert (custom.layers, custom.hidden_size, custom.learning_rate) == (3, 768, 1e-3)
    assert set(PRESETS) == {"tiny", "small", "base"}


def test_file_then_flags(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "small", "max_steps": 7, "learning_rate": 1, **REQUIRED}))
    config = load_config(ClmConfig, {"max_steps": 9}, str(path))
    assert (config.preset, config.max_steps, config.hidden_size) == ("small", 9, 256)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"preset": "huge"}, "unknown preset"),
        ({"corpus": None}, "exactly one of --corpus"),
        ({"dataset": "x"}, "exactly one of --corpus"),
        ({"output": None}, "--output"),
        ({"tokenizer": None}, "--tokenizer"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"max_steps": 2.5}, "max_steps must be int"),
        ({"overwrite": "yes"}, "overwrite must be bool"),
        ({"heads": 3}, "not a multiple of heads"),
        ({"mlm_probability": 1.5}, "mlm_probability"),
        ({"max_step": 3}, "did you mean 'max_steps'"),
    ],
)
def test_bad_values(values, message):
    with pytest.raises(UsageError, match=message):
        load_config(MlmConfig, {**REQUIRED, **values})


def test_fingerprint_ignores_where_and_how_often_to_save():
    a = MlmConfig(**REQUIRED)
    b = MlmConfig(**{**REQUIRED, "output": "elsewhere"}, checkpoint_every=7, overwrite=True)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != MlmConfig(**REQUIRED, seed=1).fingerprint()
