"""The loss terms of a logging window: each summed on the device and normalised by its own count
when the window's metrics record is written (the training loop's bookkeeping, apart from it)."""

from __future__ import annotations

import torch


class TermWindow:
    """The loss terms summed over a logging window, each with its own normaliser."""

    # Keys of a metrics record that a term's name would overwrite.
    TAKEN = frozenset({"step", "split", "tokens", "tokens_per_second", "learning_rate", "minutes"})

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.tokens, self.seconds = 0, 0.0
        self.gauges: dict[str, float] = {}  # the objective's own figures, latest value

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        """One micro-batch's summed terms (this process's)."""
        for name, value in terms.items():
            if name in self.TAKEN:
                raise ValueError(f"loss term {name!r}: the name of a metric; rename it")
            if name not in self.sums:
                self.sums[name] = torch.zeros((), device=self.device)
            self.sums[name] += value.detach()

    def count(self, counts: dict[str, int], tokens: int) -> None:
        """One step's counts, already summed over micro-batches and processes."""
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        self.tokens += tokens

    def record(self, accelerator) -> dict[str, float]:
        """{"loss": sum of the normalised terms, term: sum / count, ...}; then start afresh.

        A collective: every process calls it.
        """
        names = sorted(self.sums)
        totals = accelerator.reduce(torch.stack([self.sums[n] for n in names]), reduction="sum")
        values = {
            n: float(t) / max(self.counts.get(n, 0), 1) for n, t in zip(names, totals, strict=True)
        }
        record = {"loss": sum(values.values()), "tokens": self.tokens}
        record.update((n, v) for n, v in values.items() if n != "loss")
        if self.seconds:
            record["tokens_per_second"] = self.tokens / self.seconds
        clash = set(self.gauges) & (set(record) | self.TAKEN)
        if clash:
            raise ValueError(f"on_step figures {sorted(clash)}: names of metrics; rename them")
        record.update(self.gauges)
        self.sums, self.counts, self.tokens, self.seconds = {}, {}, 0, 0.0
        return record
