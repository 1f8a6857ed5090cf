"""PNG plot of a training run's loss curves, from a recipe's `metrics.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path

from textebm.eval.figures import png_bytes, pyplot_figure


def plot_training_curve(metrics_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Training and validation loss against step; written atomically to `png_path`."""
    from textebm.data.files import atomic_write

    curves: dict[str, tuple[list[int], list[float]]] = {}
    for line in Path(metrics_path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "loss" in record:
            steps, losses = curves.setdefault(record.get("split", "train"), ([], []))
            steps.append(record["step"])
            losses.append(record["loss"])
    with pyplot_figure(figsize=(5, 3.2), dpi=100) as (figure, axis):
        for split, (steps, losses) in curves.items():
            axis.plot(steps, losses, label=split, marker=None if split == "train" else "o")
        axis.set_xlabel("step")
        axis.set_ylabel("loss (nats per predicted token)")
        axis.set_title(title, fontsize=10)
        axis.legend()
        png = png_bytes(figure)
    with atomic_write(png_path, "wb") as handle:
        handle.write(png)
