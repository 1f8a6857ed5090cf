"""One CPU thread for these tests: the tiny models' matrices (hidden size 32) gain nothing from
more, and on a busy machine extra threads make them several times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
