"""One CPU thread for these tests (`_one_thread` in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread_for_every_test(_one_thread):
    """Every test here runs with `_one_thread`."""
