"""Calibration of classifiers: ECE, MCE, Brier, NLL, temperature scaling, and OOD AUROC.

Everything takes logits f(x): (n, C) float and labels y: (n,) int64, never probabilities, so
that the arithmetic stays in log space (pass log-probabilities as logits: softmax(log p) = p).

Definitions (all fractions, means over the n examples):
- accuracy: the fraction whose arg-max class is the label.
- ECE (top-label, L1, B equal-width bins), as torchmetrics' `MulticlassCalibrationError(n_bins=B,
  norm="l1")`, for two classes as well (its binary metric measures the positive class only):
  with confidence c_i = max_y p(y|x_i) and bins [k/B, (k+1)/B) for k = 0..B-1, plus one more bin
  holding the confidences of exactly 1 (torchmetrics' bucketing),
      ECE = sum_bins |bin| / n * |accuracy(bin) - mean confidence(bin)|.
- MCE: the largest |accuracy(bin) - mean confidence(bin)| over the non-empty bins.
- Brier (multiclass): sum over classes of (p(y|x) - [y = label])^2, mean over examples; it lies in
  [0, 2], and for two classes it is twice the binary Brier score of the positive class.
- NLL: -log p(label|x) in nats, mean over examples.
- AUROC of an outlier score s (higher = more out-of-distribution): P(s(out) > s(in)) + P(tie) / 2,
  the Mann-Whitney form, from average ranks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch

N_BINS = 20  # the reference code's and the paper's choice
METRICS = ("accuracy", "ece", "mce", "brier", "nll")
TemperatureMethod = Literal["nll", "ece-grid"]
# The reference code's grid (salesforce/ebm_calibration_nlu): T = 0.1, 0.2, ..., 3.0.
ECE_GRID = tuple(round(0.1 * k, 1) for k in range(1, 31))


@dataclass(frozen=True)
class CalibrationMetrics:
    """The five metrics of one set of predictions, as fractions (NLL in nats)."""

    accuracy: float
    ece: float
    mce: float
    brier: float
    nll: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(
            f"logits (n, C) and labels (n,), not {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError("no examples to measure")


def _confidence(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-label confidence c: (n,) float64 and correctness: (n,) float64 (1 if arg-max = label)."""
    probs = torch.softmax(logits.double(), dim=-1)
    confidence, predicted = probs.max(dim=-1)
    return confidence, (predicted == labels).double()


def bin_index(confidence: torch.Tensor, n_bins: int = N_BINS) -> torch.Tensor:
    """Bin of each confidence: (n,) int64 in 0..n_bins, k for [k/B, (k+1)/B), n_bins for exactly 1.

    Bucketed against torch.linspace boundaries exactly as torchmetrics does, so that a confidence
    on a boundary (0.5, 0.75) lands in the same bin in both.
    """
    boundaries = torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype)
    return (torch.bucketize(confidence, boundaries, right=True) - 1).clamp(0, n_bins)


@dataclass(frozen=True)
class Bins:
    """Per-bin statistics, each (n_bins + 1,): count, mean confidence, accuracy (0 when empty)."""

    count: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor


def calibration_bins(logits: torch.Tensor, labels: torch.Tensor, n_bins: int = N_BINS) -> Bins:
    """Counts, mean confidences and accuracies of the top-label bins (see the module docstring)."""
    _check(logits, labels)
    confidence, correct = _confidence(logits, labels)
    index = bin_index(confidence, n_bins)
    count = torch.zeros(n_bins + 1, dtype=torch.float64).index_add_(
        0, index, torch.ones_like(correct)
    )
    conf_sum = torch.zeros_like(count).index_add_(0, index, confidence)
    acc_sum = torch.zeros_like(count).index_add_(0, index, correct)
    safe = count.clamp(min=1)
    return Bins(count, conf_sum / safe, acc_sum / safe)


def _ece_mce(count: torch.Tensor, conf_sum: torch.Tensor, acc_sum: torch.Tensor):
    """ECE and MCE from per-bin sums: (..., bins) each -> (...,) each."""
    gap = (acc_sum - conf_sum).abs() / count.clamp(min=1)  # |acc - conf| per bin, 0 when empty
    ece = (count * gap).sum(-1) / count.sum(-1)
    return ece, gap.max(-1).values


def per_example_terms(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The per-example terms whose means are accuracy, Brier and NLL: each (n,) float64."""
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    onehot = torch.nn.functional.one_hot(labels, logits.shape[-1]).double()
    return {
        "accuracy": (log_probs.argmax(-1) == labels).double(),
        "brier": ((log_probs.exp() - onehot) ** 2).sum(-1),
        "nll": -log_probs.gather(-1, labels[:, None]).squeeze(-1),
    }


def calibration_metrics(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, n_bins: int = N_BINS
) -> CalibrationMetrics:
    """Accuracy, ECE, MCE, Brier and NLL of softmax(logits / temperature) against labels.

    logits: (n, C) float; labels: (n,) int64 in 0..C-1.
    """
    _check(logits, labels)
    scaled = logits.double() / temperature
    bins = calibration_bins(scaled, labels, n_bins)
    ece, mce = _ece_mce(bins.count, bins.confidence * bins.count, bins.accuracy * bins.count)
    terms = per_example_terms(scaled, labels)
    means = {name: float(values.mean()) for name, values in terms.items()}
    return CalibrationMetrics(ece=float(ece), mce=float(mce), **means)


def expected_calibration_error(logits, labels, n_bins: int = N_BINS) -> float:
    """Top-label L1 ECE over `n_bins` equal-width bins; see `calibration_metrics`."""
    return calibration_metrics(logits, labels, n_bins=n_bins).ece


def _nll_at(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    log_probs = torch.log_softmax(logits / temperature, dim=-1)
    return float(-log_probs.gather(-1, labels[:, None]).mean())


def fit_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    method: TemperatureMethod = "nll",
    n_bins: int = N_BINS,
    bounds: tuple[float, float] = (0.01, 100.0),
) -> float:
    """The temperature T for softmax(logits / T), fitted on held-out logits: (n, C), labels: (n,).

    method "nll" (the default, Guo et al. 2017): the T in `bounds` of least NLL, by golden-section
    search on log T. NLL is convex in 1/T (a log-sum-exp of linear functions minus a linear one),
    so it has one minimum along log T and the search finds it; a fitting set the model separates
    perfectly drives T to the lower bound.
    method "ece-grid" (the reference code's): the T in 0.1, 0.2, ..., 3.0 of lowest ECE, the
    smallest on ties. It optimises the very metric it is judged by, on a few hundred examples, so
    it overfits the fitting set more than NLL does; hence not the default.
    """
    _check(logits, labels)
    logits = logits.double()
    if method == "ece-grid":
        eces = [calibration_metrics(logits, labels, t, n_bins).ece for t in ECE_GRID]
        return ECE_GRID[min(range(len(eces)), key=lambda i: (eces[i], i))]
    if method != "nll":
        raise ValueError(f"method must be 'nll' or 'ece-grid', not {method!r}")
    low, high = (math.log(b) for b in bounds)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = _nll_at(logits, labels, math.exp(a)), _nll_at(logits, labels, math.exp(b))
    while high - low > 1e-7:  # about 45 steps from a width of log(1e4)
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _nll_at(logits, labels, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _nll_at(logits, labels, math.exp(b))
    return math.exp((low + high) / 2)


def half_split(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's protocol: a seeded random half of range(n) to fit on, the rest to report on.

    Returns (fit, report), each sorted int64 indices; fit has n // 2, report the other n - n // 2.
    The same (n, seed) always gives the same halves, on any machine (torch's CPU generator).
    """
    if n < 2:
        raise ValueError(f"cannot split {n} example(s) in half")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[: n // 2].sort().values, order[n // 2 :].sort().values


def bootstrap_intervals(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    n_bins: int = N_BINS,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    chunk: int = 100,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of each metric, the temperature held fixed.

    Each resample draws n examples with replacement (seeded generator); the interval is the
    (1 - level)/2 and (1 + level)/2 quantiles of the metric over the resamples. Note that ECE is
    biased upward on small samples, so its interval can sit above the point estimate.
    Returns {metric: (low, high)} for each name in METRICS.
    """
    _check(logits, labels)
    n = labels.shape[0]
    scaled = logits.double() / temperature
    terms = per_example_terms(scaled, labels)
    confidence, correct = _confidence(scaled, labels)
    onehot = torch.nn.functional.one_hot(bin_index(confidence, n_bins), n_bins + 1).double()
    generator = torch.Generator().manual_seed(seed)
    draws = {name: [] for name in METRICS}
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        index = torch.randint(n, (size, n), generator=generator)
        # weights[r, i]: how often resample r drew example i; every statistic is then linear.
        weights = torch.zeros(size, n, dtype=torch.float64)
        weights.scatter_add_(1, index, torch.ones_like(index, dtype=torch.float64))
        for name, values in terms.items():
            draws[name].append(weights @ values / n)
        ece, mce = _ece_mce(
            weights @ onehot,
            weights @ (onehot * confidence[:, None]),
            weights @ (onehot * correct[:, None]),
        )
        draws["ece"].append(ece)
        draws["mce"].append(mce)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    intervals = {}
    for name in METRICS:
        low, high = torch.quantile(torch.cat(draws[name]), q).tolist()
        intervals[name] = (low, high)
    return intervals


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of values: (n,), tied values sharing the mean of their ranks. (n,) float64."""
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # rank of each group's last member
    return (last - (counts.double() - 1) / 2)[inverse]


def auroc(in_scores: torch.Tensor, out_scores: torch.Tensor) -> float:
    """AUROC of telling out-of-distribution inputs by a higher score: (n_in,), (n_out,) -> float.

    Mann-Whitney: U = sum of the out-scores' ranks among all scores - n_out (n_out + 1) / 2, with
    ties at average ranks, so AUROC = U / (n_in n_out) = P(out > in) + P(out = in) / 2.
    """
    if in_scores.numel() == 0 or out_scores.numel() == 0:
        raise ValueError("AUROC needs at least one in- and one out-of-distribution score")
    ranks = average_ranks(torch.cat([in_scores.double(), out_scores.double()]))
    n_in, n_out = in_scores.numel(), out_scores.numel()
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def outlier_scores(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scores that are higher for inputs unlike the training data: logits (n, C) -> each (n,).

    msp: minus the max softmax probability (the usual baseline, Hendrycks and Gimpel 2017);
    hidden: the JEM energy -logsumexp_y f(x)_y; sharp-hidden: -max_y f(x)_y.
    """
    logits = logits.double()
    return {
        "msp": -torch.softmax(logits, dim=-1).max(-1).values,
        "hidden": -torch.logsumexp(logits, dim=-1),
        "sharp-hidden": -logits.max(-1).values,
    }
