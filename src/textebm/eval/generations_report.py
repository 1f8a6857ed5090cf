"""The `textebm eval generations` report: REPORT_DIR/summary.json and REPORT_DIR/table.md, written
atomically, from `evaluate_generations(GenerationsEvalConfig(...))`. Metrics: `eval.generations`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from textebm.errors import UsageError

FILES = ("summary.json", "table.md")


@dataclass
class GenerationsEvalConfig:
    generations: str  # JSON Lines of `textebm generate`
    references: str  # reference continuations, one a line
    output: str  # report folder
    reference_model: str | None = None  # causal LM folder: perplexity and backspace undo
    features_model: str | None = None  # local encoder folder: MAUVE features
    mauve_seed: int = 25  # mauve-text's default k-means seed
    batch_size: int = 32
    device: str | None = None


def check_report_folder(output: str, inputs: tuple[str, ...]) -> None:
    """A report folder must be new, empty or an earlier report of this kind, holding no input."""
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"report folder {folder} is a file; give a folder name")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"folder does not exist: {parent}")
    if not folder.is_dir():
        return
    for source in inputs:
        if source != "-" and folder.resolve() in Path(source).resolve().parents:
            raise UsageError(f"input {source} is inside the report folder {folder}")
    others = sorted(p.name for p in folder.iterdir() if p.name not in FILES)
    if others:
        raise UsageError(f"{folder} holds other files ({others[0]}, ...); give a new folder")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def table(summary: dict) -> str:
    """A Markdown table: each metric for the generations and, where defined, the references."""
    gen, ref = summary["generations"], summary["references"]
    lines = ["| metric | generations | references |", "|---|---|---|"]
    for name, value in gen.items():
        if isinstance(value, int | float) or value is None:
            lines.append(f"| {name} | {_cell(value)} | {_cell(ref.get(name))} |")
    return "\n".join(lines) + "\n"


def evaluate_generations(config: GenerationsEvalConfig) -> dict:
    """Read, measure, and write the report; returns the summary."""
    from textebm.data.files import write_json
    from textebm.data.folders import atomic_folder
    from textebm.eval.generations import (
        backspace_undo,
        backspace_use,
        diversity,
        read_generations,
        read_references,
        reference_perplexity,
    )

    if config.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, not {config.batch_size}")
    check_report_folder(config.output, (config.generations, config.references))
    if config.features_model is not None:
        from textebm.eval.mauve_score import import_mauve

        import_mauve()  # a missing extra fails now, not after the scoring
    records = read_generations(config.generations)
    references = read_references(config.references)
    texts = [record.text for record in records]
    generated = {"count": len(records), **diversity(texts), **backspace_use(records)}
    reference = {"count": len(references), **diversity(references)}
    undo_reason = "no --reference-model"
    if config.reference_model is not None:
        from textebm.energies.causal_lm import CausalLMEnergy
        from textebm.models.loading import load_causal_lm

        energy = CausalLMEnergy(*load_causal_lm(config.reference_model, device=config.device))
        generated.update(reference_perplexity(energy, records))
        undo = backspace_undo(energy, records)
        undo_reason = undo.pop("undo_reason", None)
        generated.update(undo)
    mauve_reason = "no --features-model"
    if config.features_model is not None:
        from textebm.eval.mauve_score import load_encoder, mauve_score, mean_pooled_features

        model, tokenizer = load_encoder(config.features_model, config.device)
        features = [
            mean_pooled_features(model, tokenizer, group, config.batch_size)
            for group in (references, texts)
        ]
        generated.update(mauve_score(*features, seed=config.mauve_seed))
        mauve_reason = None
    summary = {
        "generations": generated,
        "references": reference,
        "notes": {
            "distinct": "per_ngram: distinct n-grams / n-grams; per_token: distinct n-grams / "
            "tokens (Li et al. 2016); whitespace tokens, pooled over the texts",
            "repetition_4": "within-text repeated 4-grams / all 4-grams, pooled",
            "reference_perplexity": "continuation tokens (+ eos if finished) given bos + prompt",
            "undo_unlikely_rate": "backspaces whose deleted token's reference log-prob is below "
            "the median reference log-prob of kept generated tokens"
            + (f" (not computed: {undo_reason})" if undo_reason else ""),
            "mauve": "mauve-text on mean-pooled encoder features, p = references, q = generations"
            + (f" (not computed: {mauve_reason})" if mauve_reason else ""),
        },
        "settings": asdict(config),
    }
    with atomic_folder(config.output) as folder:
        write_json(folder / "summary.json", summary)
        (folder / "table.md").write_text(table(summary), encoding="utf-8")
    return summary
