"""What the `textebm translate` CLI tests share: six source lines, the common flags, a short random
CMLM. Import the fixtures by name into a test module (and use the root conftest's
`_quiet_and_one_thread`: one thread and no progress bars)."""

from __future__ import annotations

import pytest

from tests.samplers.translate_models import build_short_cmlm
from textebm.cli.main import main

LINES = ["the cat sat", "dogs", "she reads a book", "a bird sang .", "we ran", "cats eat"]
COMMON = ["--device", "cpu", "--sweeps", "2", "--batch-sentences", "2", "--seed", "1"]


@pytest.fixture(scope="module")
def short_dir(tmp_path_factory):
    return build_short_cmlm(tmp_path_factory.mktemp("short_cmlm"))


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


def translate(model, source, out, *extra) -> int:
    """`textebm translate --model MODEL COMMON EXTRA SOURCE -o OUT`; its exit code."""
    return main(["translate", "--model", str(model), *COMMON, *extra, str(source), "-o", str(out)])


def lines(path) -> list[str]:
    return path.read_text().splitlines()
