"""`samplers.generate_file`'s backspace choices, on a stand-in tokenizer (no model needed)."""

from __future__ import annotations

import pytest

from textebm.errors import UsageError
from textebm.models.backspace import BKSPC_TOKEN
from textebm.samplers.generate_file import banned_backspace, check_ban_deleted, choose_backspace


class _Vocab:
    """Just what `backspace_id` reads of a tokenizer."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)


@pytest.mark.parametrize("bkspc", [0, 7])  # id 0 is falsy, and still an id
def test_backspace_off_bans_the_token_whatever_its_id(bkspc):
    tokenizer = _Vocab({BKSPC_TOKEN: bkspc, "the": 1 if bkspc == 0 else 0})
    assert choose_backspace("off", tokenizer, "m") is None
    assert banned_backspace(tokenizer, None) == [bkspc]
    assert choose_backspace("auto", tokenizer, "m") == bkspc
    assert banned_backspace(tokenizer, bkspc) is None  # sampled with: not banned


def test_a_model_without_backspace_bans_nothing():
    tokenizer = _Vocab({"the": 0})
    assert choose_backspace("auto", tokenizer, "m") is None
    assert banned_backspace(tokenizer, None) is None


def test_ban_deleted_needs_backspaces():
    check_ban_deleted(True, 0, "m")  # <bkspc> id 0 sampled with: fine
    check_ban_deleted(False, None, "m")
    with pytest.raises(UsageError, match="--ban-deleted needs backspaces, but model m has no"):
        check_ban_deleted(True, None, "m")
