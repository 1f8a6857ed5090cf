"""The chain settings `textebm sample` and `textebm translate` share are checked by one rule set
(`chain_checks`): the same bad value gets the same one-line error from both configs."""

from __future__ import annotations

import pytest

from textebm.errors import UsageError
from textebm.samplers.config import SampleConfig, chain_checks
from textebm.samplers.translate_config import TranslateConfig

BAD = [
    ({"temperature": 0.0}, "--temperature must be positive, not 0.0"),
    ({"anneal_to": -1.0}, "--anneal-to must be positive, not -1.0"),
    ({"proposal_temperature": 0.0}, "--proposal-temperature must be positive, not 0.0"),
    ({"top_k": -1}, "--top-k must be >= 0 (0 turns it off), not -1"),
    ({"top_p": 0.0}, "--top-p must be in (0, 1], not 0.0"),
    ({"top_p": 1.5}, "--top-p must be in (0, 1], not 1.5"),
    ({"top_p": float("nan")}, "--top-p must be in (0, 1], not nan"),
    ({"block_size": 0}, "--block-size must be >= 1, not 0"),
    ({"batch_tokens": 0}, "--batch-tokens must be positive, not 0"),
    # two bad values: the first in flag order is named
    ({"top_k": -1, "temperature": 0.0}, "--temperature must be positive, not 0.0"),
]


@pytest.mark.parametrize(("settings", "error"), BAD)
def test_both_configs_reject_a_bad_chain_setting_alike(settings, error):
    with pytest.raises(UsageError) as sample_error:
        SampleConfig(length="5", **settings)
    with pytest.raises(UsageError) as translate_error:
        TranslateConfig(**settings)
    assert str(sample_error.value) == str(translate_error.value) == error


def test_the_defaults_pass_every_check():
    for config in (SampleConfig(length="5"), TranslateConfig()):
        assert all(passed for passed, _ in chain_checks(config))
