"""PNG figures of sampler runs, drawn with matplotlib's file-only backend."""

from __future__ import annotations

import torch

from textebm.eval.figures import png_bytes, pyplot_figure


def energy_trace_png(
    trace: torch.Tensor, burn_in: int = 0, title: str = "", max_chains: int = 32
) -> bytes:
    """Energy after every sweep, one line per chain (the first `max_chains`), the mean across all
    chains in black, and the end of burn-in dashed. trace: (sweeps, chains). Returns PNG bytes."""
    trace = trace.float().cpu()
    sweeps = torch.arange(1, trace.shape[0] + 1)
    with pyplot_figure(figsize=(7, 4), dpi=100) as (figure, axes):
        for chain in range(min(trace.shape[1], max_chains)):
            axes.plot(sweeps, trace[:, chain], linewidth=0.6, alpha=0.5)
        axes.plot(sweeps, trace.mean(dim=1), color="black", linewidth=1.5, label="mean")
        if burn_in:
            axes.axvline(burn_in + 0.5, color="grey", linestyle="--", label="end of burn-in")
        axes.set_xlabel("sweep")
        axes.set_ylabel("energy E(x)")
        axes.set_title(title)
        axes.legend(loc="upper right")
        return png_bytes(figure)
