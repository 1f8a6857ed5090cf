"""The calibration report of a trained classifier: logits, the paper's protocols, PNGs, summary.

Protocols (He et al. 2021): with only the data file, split it in half by seed, fit the temperature
on the first half and report on the second; with a separate fitting file (all of dev), fit on it
and report on the data file (the labelled test set). Either way the report holds the raw and the
temperature-scaled metrics of the reported examples, with seeded bootstrap intervals, and, given
out-of-distribution sentences, the AUROC of each outlier score for telling them from the data's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.energies.classifier import classify, energy_from_outputs
from textebm.eval.calibration import (
    N_BINS,
    TemperatureMethod,
    auroc,
    bootstrap_intervals,
    calibration_bins,
    calibration_metrics,
    fit_temperature,
    half_split,
    outlier_scores,
)
from textebm.eval.figures import png_bytes, pyplot_figure

SUMMARY = "summary.json"
FIGURES = {"raw": "reliability_raw.png", "scaled": "reliability_scaled.png"}


@dataclass
class CalibrationConfig:
    """What `textebm eval calibration` measures; its flags carry the same names."""

    model: str = field(metadata={"help": "folder (or hub id) of a sequence classifier"})
    data: str = field(
        metadata={"help": "labelled TSV to report on; with `dataset`, the name of its split"}
    )
    output_dir: str = field(metadata={"help": "report folder (created if missing)"})
    fit: str | None = field(
        default=None,
        metadata={"help": "labelled TSV to fit the temperature on; default: half of --data"},
    )
    ood: str | None = field(
        default=None, metadata={"help": "out-of-distribution sentences, one a line"}
    )
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "a labelled Hugging Face dataset (hub name or save_to_disk folder): `data` "
            "and `fit` then name its splits"
        },
    )
    text_column: str = "sentence"
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: str | None = field(default=None, metadata={"help": "label names, comma-separated"})
    temperature_method: TemperatureMethod = "nll"
    n_bins: int = N_BINS
    seed: int = 0
    resamples: int = 1000
    level: float = 0.95
    batch_size: int = 32
    max_length: int | None = None
    device: str | None = None


def classifier_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    head: torch.nn.Module | None = None,
) -> tuple[torch.Tensor, int, torch.Tensor | None]:
    """Logits f(x): (n, C) float32 on the CPU, in input order; how many inputs were truncated;
    and, given the classifier's scalar energy head, its energies g(h): (n,) float32, else None.

    Inputs longer than `max_length` tokens (default: the model's limit) are cut, as classifiers
    are trained; texts are batched by length so that little compute goes on padding.
    """
    limit = getattr(model.config, "max_position_embeddings", None) or 512
    max_length = min(max_length or tokenizer.model_max_length, limit)
    full = tokenizer(list(texts), list(pairs) if pairs is not None else None)["input_ids"]
    lengths = [len(ids) for ids in full]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    device = next(model.parameters()).device
    out = torch.empty(len(texts), model.config.num_labels)
    scalar = torch.empty(len(texts)) if head is not None else None
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in chunk],
                [pairs[i] for i in chunk] if pairs is not None else None,
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            logits, cls_hidden = classify(model, batch, need_hidden=head is not None)
            out[chunk] = logits.float().cpu()
            if head is not None:
                scalar[chunk] = energy_from_outputs("scalar", logits, cls_hidden, head).cpu()
    return out, sum(length > max_length for length in lengths), scalar


def reliability_png(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    n_bins: int = N_BINS,
    title: str = "",
) -> bytes:
    """A reliability diagram: accuracy per confidence bin, with the gap to the bin's mean
    confidence in red (the gaps ECE averages), over a histogram of the examples per bin.
    logits: (n, C); labels: (n,). Returns PNG bytes."""
    bins = calibration_bins(logits.double() / temperature, labels, n_bins)
    count, confidence, accuracy = bins.count.clone(), bins.confidence, bins.accuracy
    # Drawn only: fold the bin of confidence exactly 1 into the last [1 - 1/B, 1] bar.
    last, top = n_bins - 1, n_bins
    if count[top]:
        total = count[last] + count[top]
        accuracy, confidence = accuracy.clone(), confidence.clone()
        accuracy[last] = (accuracy[last] * count[last] + accuracy[top] * count[top]) / total
        confidence[last] = (confidence[last] * count[last] + confidence[top] * count[top]) / total
        count[last] = total
    # numpy for matplotlib, which does not take torch tensors cleanly
    count, accuracy = count[:n_bins].numpy(), accuracy[:n_bins].numpy()
    confidence = confidence[:n_bins].numpy()
    left = torch.arange(n_bins, dtype=torch.float64).numpy() / n_bins
    width = 1.0 / n_bins
    metrics = calibration_metrics(logits, labels, temperature, n_bins)
    with pyplot_figure(
        2, 1, figsize=(5, 6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    ) as (figure, (top_axes, bottom_axes)):
        shown = count > 0
        top_axes.bar(
            left[shown],
            accuracy[shown],
            width=width,
            align="edge",
            color="tab:blue",
            edgecolor="black",
            linewidth=0.5,
            label="accuracy",
        )
        top_axes.bar(
            left[shown],
            (confidence - accuracy)[shown],
            bottom=accuracy[shown],
            width=width,
            align="edge",
            color="tab:red",
            alpha=0.3,
            label="gap to mean confidence",
        )
        top_axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
        top_axes.set_ylabel("accuracy")
        top_axes.set_ylim(0, 1)
        top_axes.set_title(
            title
            or f"T = {temperature:.3g}: ECE {metrics.ece:.3f}, accuracy {metrics.accuracy:.3f}"
        )
        top_axes.legend(loc="upper left")
        bottom_axes.bar(left, count / count.sum(), width=width, align="edge", color="grey")
        bottom_axes.set_xlabel("confidence (max softmax probability)")
        bottom_axes.set_ylabel("fraction")
        bottom_axes.set_xlim(0, 1)
        return png_bytes(figure)


def _metrics(logits, labels, temperature, config: CalibrationConfig) -> dict:
    return calibration_metrics(logits, labels, temperature, config.n_bins).as_dict()


def summarise(
    report_logits: torch.Tensor,
    report_labels: torch.Tensor,
    fit_logits: torch.Tensor,
    fit_labels: torch.Tensor,
    config: CalibrationConfig,
    ood_logits: torch.Tensor | None = None,
    in_logits: torch.Tensor | None = None,
    scalar: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict:
    """The summary's numbers: the temperature fitted on (fit_logits: (m, C), fit_labels: (m,)),
    raw and scaled metrics with bootstrap intervals on (report_logits: (n, C), report_labels),
    and, given ood_logits: (k, C), the AUROC of each outlier score against in_logits' scores
    (in_logits default to report_logits); `scalar`, (in, out) scalar-head energies, adds its."""
    temperature = fit_temperature(fit_logits, fit_labels, config.temperature_method, config.n_bins)
    summary: dict = {
        "temperature": temperature,
        "n_fit": len(fit_labels),
        "n_report": len(report_labels),
        "raw": _metrics(report_logits, report_labels, 1.0, config),
        "scaled": _metrics(report_logits, report_labels, temperature, config),
        "intervals": {"level": config.level, "resamples": config.resamples},
    }
    for name, t in (("raw", 1.0), ("scaled", temperature)):
        intervals = bootstrap_intervals(
            report_logits,
            report_labels,
            t,
            config.n_bins,
            config.resamples,
            config.level,
            config.seed,
        )  # the same seed for both: raw and scaled see the same resamples
        summary["intervals"][name] = {key: list(pair) for key, pair in intervals.items()}
    if ood_logits is not None:
        inside = outlier_scores(in_logits if in_logits is not None else report_logits)
        outside = outlier_scores(ood_logits)
        if scalar is not None:
            inside["scalar"], outside["scalar"] = scalar
        summary["ood_auroc"] = {
            "n_in": len(next(iter(inside.values()))),
            "n_out": len(ood_logits),
            "score": "higher = more out-of-distribution: msp is minus the max softmax "
            "probability, hidden = -logsumexp f(x), sharp-hidden = -max f(x), scalar = the "
            "classifier's scalar energy head (when it has one)",
            "auroc": {name: auroc(inside[name], outside[name]) for name in inside},
        }
    return summary


def calibration_report(config: CalibrationConfig) -> dict:
    """Load the classifier and data, measure, and write summary.json and the reliability PNGs
    into config.output_dir. Returns the summary."""
    from textebm.data.files import atomic_write, check_output, read_sentences, write_json
    from textebm.data.labelled import parse_label_names, read_labelled, read_labelled_dataset
    from textebm.errors import UsageError
    from textebm.models.loading import load_classifier

    for flag, value in (
        ("--batch-size", config.batch_size),
        ("--resamples", config.resamples),
        ("--bins", config.n_bins),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be positive, not {value}")
    if not 0 < config.level < 1:
        raise UsageError(f"--level must be between 0 and 1, not {config.level}")
    if config.max_length is not None and config.max_length < 2:
        raise UsageError(f"--max-length must be at least 2, not {config.max_length}")
    if str(config.output_dir) == "-":
        raise UsageError("-o -: the report is a folder of several files; give a folder name")
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out} is a file; give a folder for the report")
    files = (config.ood,) if config.dataset else (config.data, config.fit, config.ood)
    inputs = tuple(p for p in files if p)
    # Before any work: the folder (or, when it is to be made, its parent) must be writable.
    check_output(out / SUMMARY if out.is_dir() else out)
    label_names = parse_label_names(config.labels)
    columns = dict(
        text_column=config.text_column,
        label_column=config.label_column,
        text_pair_column=config.text_pair_column,
        label_names=label_names,
    )

    def rows_of(source: str):  # a TSV file, or with --dataset one of its splits
        if config.dataset is not None:
            return read_labelled_dataset(config.dataset, source, **columns)
        return read_labelled(source, **columns)

    # Read everything before the model loads: bad input fails in a second, not after a minute.
    data = rows_of(config.data)
    fit = rows_of(config.fit) if config.fit else None
    ood = read_sentences(config.ood) if config.ood else None
    if fit is None and len(data) < 2:
        raise UsageError(f"{config.data} holds 1 row: the half-split needs 2 or more (or --fit)")
    if config.text_pair_column is not None and ood is not None:
        raise UsageError("--ood holds single sentences, but the classifier reads sentence pairs")
    model, tokenizer, head = load_classifier(config.model, device=config.device)
    num_labels = model.config.num_labels
    if label_names is not None and len(label_names) != num_labels:
        raise UsageError(
            f"--labels names {len(label_names)} labels, but {config.model} has {num_labels}"
        )
    for path, rows in ((config.data, data), (config.fit, fit or [])):
        for row in rows:  # labels beyond the classifier's classes: an unknown label
            if row.label >= num_labels:
                raise UsageError(
                    f"{path}: unknown label {row.label}: {config.model} has "
                    f"labels 0..{num_labels - 1}"
                )
    out.mkdir(exist_ok=True)
    for name in [SUMMARY, *FIGURES.values()]:
        check_output(out / name, inputs=inputs)

    def logits_of(rows):
        pairs = [r.text_pair for r in rows] if config.text_pair_column else None
        texts = [r.text for r in rows]
        return classifier_logits(
            model, tokenizer, texts, pairs, config.batch_size, config.max_length, head
        )

    data_logits, truncated, data_scalar = logits_of(data)
    data_labels = torch.tensor([r.label for r in data])
    if fit is None:
        fit_index, report_index = half_split(len(data), config.seed)
        fit_logits, fit_labels = data_logits[fit_index], data_labels[fit_index]
        report_logits, report_labels = data_logits[report_index], data_labels[report_index]
        protocol = "half-split"
    else:
        fit_logits, fit_truncated, _ = logits_of(fit)
        truncated += fit_truncated
        fit_labels = torch.tensor([r.label for r in fit])
        report_logits, report_labels = data_logits, data_labels
        protocol = "fit-then-report"
    ood_logits = scalar = None
    if ood is not None:
        ood_logits, ood_truncated, ood_scalar = classifier_logits(
            model, tokenizer, ood, None, config.batch_size, config.max_length, head
        )
        truncated += ood_truncated
        scalar = None if head is None else (data_scalar, ood_scalar)
    numbers = summarise(
        report_logits,
        report_labels,
        fit_logits,
        fit_labels,
        config,
        ood_logits,
        in_logits=data_logits,
        scalar=scalar,
    )
    summary = {
        "model": config.model,
        "data": config.data,
        "fit": config.fit,
        "ood": config.ood,
        "protocol": protocol,
        "seed": config.seed,
        "num_labels": num_labels,
        "n_bins": config.n_bins,
        "temperature_method": config.temperature_method,
        "truncated": truncated,
        **numbers,
        "figures": FIGURES,
    }
    for name, t in (("raw", 1.0), ("scaled", numbers["temperature"])):
        png = reliability_png(report_logits, report_labels, t, config.n_bins)
        with atomic_write(out / FIGURES[name], "wb") as handle:
            handle.write(png)
    write_json(out / SUMMARY, summary)
    return summary
