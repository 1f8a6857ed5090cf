"""What every PNG figure of textebm's reports shares: a matplotlib figure on the file-only backend
(Agg: no display needed), closed however its drawing ends, and its PNG bytes.

matplotlib (seconds to import) is imported on the first figure, not with this module, which
imports nothing heavy: the report modules that use it stay cheap to import.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def pyplot_figure(*args, **kwargs) -> Iterator[tuple[Any, Any]]:
    """(figure, axes) of `pyplot.subplots(*args, **kwargs)`, closed on leaving the block."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(*args, **kwargs)
    try:
        yield figure, axes
    finally:
        plt.close(figure)


def png_bytes(figure: Any) -> bytes:
    """The figure, laid out tight (`tight_layout`), as PNG bytes."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
