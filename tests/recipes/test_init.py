"""Starting from a saved model: the size check and the one-line errors of `load_init`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from transformers import BertConfig, GPT2Config

from textebm.errors import UsageError
from textebm.recipes.init import check_fits, load_init, positions


def test_positions_reads_either_name():
    assert positions(BertConfig(max_position_embeddings=64), 8) == 64
    assert positions(GPT2Config(n_positions=32), 8) == 32


def test_check_fits_names_the_source_and_both_sizes():
    check_fits(BertConfig(vocab_size=50, max_position_embeddings=64), 50, 64, "--init-from d")
    with pytest.raises(UsageError) as error:
        check_fits(BertConfig(vocab_size=40, max_position_embeddings=64), 50, 64, "--noise d")
    assert str(error.value) == (
        "--noise d takes 40 token ids and 64 positions; the tokenizer has 50 tokens and "
        "--context-length is 64"
    )


def test_load_init_checks_the_model_and_turns_load_errors_into_one_line():
    config = SimpleNamespace(init_from="somewhere", context_length=16)
    tokenizer = [0] * 30  # only its length counts
    model = SimpleNamespace(config=BertConfig(vocab_size=30, max_position_embeddings=16))
    assert load_init(config, tokenizer, lambda folder: model) is model
    with pytest.raises(UsageError, match=r"^--init-from somewhere takes 30 token ids"):
        load_init(config, [0] * 31, lambda folder: model)

    def broken(folder: str):
        raise OSError(f"no model in {folder}\nlong traceback-like detail")

    with pytest.raises(UsageError) as error:
        load_init(config, tokenizer, broken)
    assert str(error.value) == "cannot load --init-from somewhere: no model in somewhere"


def test_load_init_names_a_missing_folder(tmp_path):
    """A path that is no folder: say so, not the hub's "Repo id must be in the form ..."."""
    absent = str(tmp_path / "absent")
    config = SimpleNamespace(init_from=absent, context_length=16)

    def hub_like(folder: str):
        raise ValueError(f"Repo id must be in the form 'repo_name': {folder!r}")

    with pytest.raises(UsageError) as error:
        load_init(config, [0] * 30, hub_like)
    assert str(error.value) == f"--init-from {absent}: no such folder"
