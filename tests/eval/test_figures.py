"""pyplot_figure / png_bytes: a PNG of what was drawn, the figure closed however the block ends."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from textebm.eval.figures import png_bytes, pyplot_figure


def test_png_bytes_is_the_drawn_figure_and_the_figure_is_closed():
    from matplotlib import image
    from matplotlib import pyplot as plt

    with pyplot_figure(figsize=(2, 1), dpi=50) as (figure, axes):
        axes.plot([0, 1], [1, 0])
        png = png_bytes(figure)
        number = figure.number
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert image.imread(io.BytesIO(png)).shape[:2] == (50, 100)  # 1 x 2 inches at 50 dpi
    assert number not in plt.get_fignums()


def test_a_failed_drawing_still_closes_its_figure():
    from matplotlib import pyplot as plt

    with pytest.raises(RuntimeError, match="drawing failed"), pyplot_figure() as (figure, _):
        number = figure.number
        raise RuntimeError("drawing failed")
    assert number not in plt.get_fignums()


def test_importing_it_does_not_import_matplotlib():
    code = "import sys, textebm.eval.figures; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
