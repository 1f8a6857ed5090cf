"""Calibration metrics against hand-computed cases and torchmetrics; temperature scaling; the
half-split; bootstrap intervals; AUROC with ties."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.eval.calibration import (
    ECE_GRID,
    auroc,
    average_ranks,
    bin_index,
    bootstrap_intervals,
    calibration_bins,
    calibration_metrics,
    fit_temperature,
    half_split,
    outlier_scores,
)

# Five examples over three classes, confidences away from bin edges.
#   p                    label  conf  correct  bin (k/20..(k+1)/20)
#   (.92, .05, .03)      0      .92   yes      18
#   (.03, .93, .04)      2      .93   no       18
#   (.62, .30, .08)      0      .62   yes      12
#   (.21, .71, .08)      0      .71   no       14
#   (.40, .35, .25)      1      .40   no       8
# accuracy = 2/5
# ECE = 2/5 |1/2 - .925| + 1/5 |1 - .62| + 1/5 |0 - .71| + 1/5 |0 - .40|
#     = .17 + .076 + .142 + .08 = .468;  MCE = .71
# Brier per example: .0064+.0025+.0009 = .0098; .0009+.8649+.9216 = 1.7874;
#   .1444+.09+.0064 = .2408; .6241+.5041+.0064 = 1.1346; .16+.4225+.0625 = .645;  mean .76352
# NLL = -(ln .92 + ln .04 + ln .62 + ln .21 + ln .35) / 5 = 6.390764 / 5 = 1.2781528
HAND_PROBS = [
    [0.92, 0.05, 0.03],
    [0.03, 0.93, 0.04],
    [0.62, 0.30, 0.08],
    [0.21, 0.71, 0.08],
    [0.40, 0.35, 0.25],
]
HAND_LABELS = [0, 2, 0, 0, 1]


def _hand():
    return torch.tensor(HAND_PROBS, dtype=torch.float64).log(), torch.tensor(HAND_LABELS)


def test_metrics_on_hand_computed_case():
    logits, labels = _hand()
    metrics = calibration_metrics(logits, labels)
    assert metrics.accuracy == pytest.approx(0.4)
    assert metrics.ece == pytest.approx(0.468)
    assert metrics.mce == pytest.approx(0.71)
    assert metrics.brier == pytest.approx(0.76352)
    assert metrics.nll == pytest.approx(1.2781528, abs=1e-6)
    assert set(metrics.as_dict()) == {"accuracy", "ece", "mce", "brier", "nll"}


def test_bins_of_hand_case():
    logits, labels = _hand()
    bins = calibration_bins(logits, labels)
    assert bins.count.shape == (21,)
    assert {k: int(c) for k, c in enumerate(bins.count) if c} == {8: 1, 12: 1, 14: 1, 18: 2}
    assert bins.confidence[18] == pytest.approx(0.925)
    assert bins.accuracy[18] == pytest.approx(0.5)


def test_confidence_of_exactly_one_has_its_own_bin():
    """As torchmetrics buckets: c = 1 is apart from [.95, 1). With a confident mistake at 1 and a
    right answer at .97, ECE = (1 + .03) / 2; merged into one bin it would be |.5 - .985| = .485."""
    logits = torch.tensor([[0.0, -1000.0], [math.log(0.97), math.log(0.03)]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    metrics = calibration_metrics(logits, labels)
    assert metrics.ece == pytest.approx(1.03 / 2)
    assert metrics.mce == pytest.approx(1.0)
    assert bin_index(torch.tensor([0.0, 0.5, 0.75, 0.9999, 1.0], dtype=torch.float64)).tolist() == [
        0,
        10,
        15,
        19,
        20,
    ]


def test_temperature_applies_before_softmax():
    logits, labels = _hand()
    assert calibration_metrics(logits * 2, labels, temperature=2.0) == pytest.approx(
        calibration_metrics(logits, labels)
    )
    # Two classes, logits (0, 2 ln 3) at T = 2: p = (1/4, 3/4); label 0 -> NLL ln 4, Brier 2/16.
    two = torch.tensor([[0.0, 2 * math.log(3)]])
    metrics = calibration_metrics(two, torch.tensor([0]), temperature=2.0)
    assert metrics.nll == pytest.approx(math.log(4))
    assert metrics.brier == pytest.approx(2 * 0.75**2)
    assert metrics.ece == pytest.approx(0.75) and metrics.accuracy == 0


def _synthetic(n: int, classes: int, temperature: float, seed: int):
    """Logits z and labels drawn from softmax(z / temperature): T is then the right scale."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=generator, dtype=torch.float64) * 3
    labels = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
    return logits, labels.squeeze(-1)


@pytest.mark.parametrize("classes,truth", [(2, 2.0), (4, 0.5), (3, 1.0)])
def test_temperature_scaling_recovers_a_known_temperature(classes, truth):
    logits, labels = _synthetic(20000, classes, truth, seed=classes)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(truth, rel=0.06)
    # It is the minimum of NLL: nudging T either way costs likelihood.
    nll = calibration_metrics(logits, labels, fitted).nll
    assert nll <= calibration_metrics(logits, labels, fitted * 1.02).nll
    assert nll <= calibration_metrics(logits, labels, fitted / 1.02).nll
    # Scaling by the fitted T calibrates: ECE drops well below the raw model's (unless T = 1).
    if truth != 1.0:
        raw = calibration_metrics(logits, labels).ece
        assert calibration_metrics(logits, labels, fitted).ece < raw / 3


def test_ece_grid_picks_the_grid_point_of_lowest_ece():
    logits, labels = _synthetic(5000, 3, 1.5, seed=7)
    chosen = fit_temperature(logits, labels, method="ece-grid")
    assert chosen in ECE_GRID and ECE_GRID[0] == 0.1 and ECE_GRID[-1] == 3.0 and len(ECE_GRID) == 30
    eces = {t: calibration_metrics(logits, labels, t).ece for t in ECE_GRID}
    assert eces[chosen] == min(eces.values())
    assert 1.2 <= chosen <= 1.8
    with pytest.raises(ValueError, match="method"):
        fit_temperature(logits, labels, method="platt")


def test_separable_fitting_set_drives_temperature_to_the_lower_bound():
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    assert fit_temperature(logits, torch.tensor([0, 1])) == pytest.approx(0.01, rel=1e-3)


def test_half_split_is_deterministic_disjoint_and_covering():
    fit, report = half_split(11, seed=3)
    again = half_split(11, seed=3)
    assert fit.tolist() == again[0].tolist() and report.tolist() == again[1].tolist()
    assert len(fit) == 5 and len(report) == 6
    assert sorted(fit.tolist() + report.tolist()) == list(range(11))
    assert fit.tolist() == sorted(fit.tolist())
    assert half_split(11, seed=4)[0].tolist() != fit.tolist()
    # Not simply the first half: the split is random, not by file order.
    assert fit.tolist() != list(range(5))
    with pytest.raises(ValueError):
        half_split(1)


def test_bootstrap_intervals_contain_the_point_estimate_and_repeat():
    logits, labels = _synthetic(400, 3, 2.0, seed=1)  # miscalibrated at T = 1
    point = calibration_metrics(logits, labels).as_dict()
    intervals = bootstrap_intervals(logits, labels, resamples=500, seed=5)
    for name, (low, high) in intervals.items():
        assert low <= point[name] <= high, name
        assert low < high
    assert intervals == bootstrap_intervals(logits, labels, resamples=500, seed=5)
    assert intervals != bootstrap_intervals(logits, labels, resamples=500, seed=6)


def test_bootstrap_weights_reproduce_the_metric_of_each_resample():
    """The weighted-sum shortcut equals computing each metric on the resampled examples."""
    logits, labels = _synthetic(30, 3, 2.0, seed=2)
    generator = torch.Generator().manual_seed(9)
    index = torch.randint(30, (1, 30), generator=generator)[0]
    # One resample: its interval collapses to that resample's value.
    low, high = bootstrap_intervals(logits, labels, resamples=1, seed=9)["ece"]
    direct = calibration_metrics(logits[index], labels[index])
    assert low == pytest.approx(direct.ece) and high == pytest.approx(direct.ece)
    for name, (low, _) in bootstrap_intervals(logits, labels, resamples=1, seed=9).items():
        assert low == pytest.approx(direct.as_dict()[name]), name


def test_auroc_with_ties_by_hand():
    """in: 1, 2, 2; out: 2, 3. Pairs (out > in) + ties / 2: out 2 beats 1, ties 2 twice -> 2;
    out 3 beats all three -> 3. AUROC = 5 / 6."""
    assert auroc(torch.tensor([1.0, 2.0, 2.0]), torch.tensor([2.0, 3.0])) == pytest.approx(5 / 6)
    assert average_ranks(torch.tensor([1.0, 2.0, 2.0, 2.0, 3.0])).tolist() == [1, 3, 3, 3, 5]
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5
    with pytest.raises(ValueError):
        auroc(torch.tensor([]), torch.tensor([1.0]))


def test_auroc_matches_pairwise_count():
    generator = torch.Generator().manual_seed(0)
    inside = torch.randint(0, 6, (40,), generator=generator).double()
    outside = torch.randint(2, 9, (30,), generator=generator).double()
    pairs = (outside[:, None] > inside[None]).double() + 0.5 * (outside[:, None] == inside[None])
    assert auroc(inside, outside) == pytest.approx(float(pairs.mean()))


def test_outlier_scores_by_hand():
    logits = torch.tensor([[0.0, math.log(3)]])  # p = (1/4, 3/4)
    scores = outlier_scores(logits)
    assert scores["msp"].item() == pytest.approx(-0.75)
    assert scores["hidden"].item() == pytest.approx(-math.log(4))
    assert scores["sharp-hidden"].item() == pytest.approx(-math.log(3))


# Independent reference: torchmetrics (in the dev extra, so CI runs these; skipped without it).


@pytest.mark.parametrize("classes", [2, 5])
def test_ece_mce_match_torchmetrics(classes):
    tm = pytest.importorskip("torchmetrics.functional.classification")
    logits, labels = _synthetic(3000, classes, 1.7, seed=classes)
    probs = torch.softmax(logits, -1).float()
    metrics = calibration_metrics(logits, labels)
    for norm, ours in (("l1", metrics.ece), ("max", metrics.mce)):
        theirs = tm.multiclass_calibration_error(probs, labels, classes, n_bins=20, norm=norm)
        assert ours == pytest.approx(float(theirs), abs=1e-5), norm
    accuracy = tm.multiclass_accuracy(probs, labels, classes, average="micro")
    assert metrics.accuracy == pytest.approx(float(accuracy))


def test_ece_matches_torchmetrics_with_confidences_of_one():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    logits = torch.tensor([[0.0, -200.0], [-200.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
    labels = torch.tensor([1, 1, 0, 0])
    theirs = tm.multiclass_calibration_error(torch.softmax(logits, -1), labels, 2, n_bins=20)
    assert calibration_metrics(logits, labels).ece == pytest.approx(float(theirs), abs=1e-6)


def test_auroc_matches_torchmetrics_with_ties():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    generator = torch.Generator().manual_seed(1)
    inside = torch.randint(0, 6, (50,), generator=generator).float()
    outside = torch.randint(2, 9, (35,), generator=generator).float()
    target = torch.cat([torch.zeros(50), torch.ones(35)]).long()
    scores = torch.cat([inside, outside])
    theirs = tm.binary_auroc(scores / 10, target)  # in [0, 1], so taken as probabilities
    assert auroc(inside, outside) == pytest.approx(float(theirs), abs=1e-6)
