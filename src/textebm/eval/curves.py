"""PNG plot of a training run's loss curves, from a recipe's `metrics.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path


def plot_training_curve(metrics_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Training and validation loss against step; written atomically to `png_path`."""
    import matplotlib

    matplotlib.use("Agg")  # file-only backend: no display needed
    import matplotlib.pyplot as plt

    from textebm.data.files import atomic_write

    curves: dict[str, tuple[list[int], list[float]]] = {}
    for line in Path(metrics_path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "loss" in record:
            steps, losses = curves.setdefault(record.get("split", "train"), ([], []))
            steps.append(record["step"])
            losses.append(record["loss"])
    figure, axis = plt.subplots(figsize=(5, 3.2), dpi=100)
    for split, (steps, losses) in curves.items():
        axis.plot(steps, losses, label=split, marker=None if split == "train" else "o")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (nats per predicted token)")
    axis.set_title(title, fontsize=10)
    axis.legend()
    figure.tight_layout()
    with atomic_write(png_path, "wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
