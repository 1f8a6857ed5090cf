"""`textebm demo`: the whole job, offline, in minutes, on an embedded language with exact answers.

1. Generate a corpus from the embedded grammar (`textebm.data.grammar`), whose every sentence has
   an exact probability, and hold out test sentences that never occur in training.
2. Train a word-level tokenizer and a tiny masked LM with the `train mlm` recipe. The model lands
   in OUTPUT/model and is reused by the next run (the recipe resumes, and finds nothing left).
3. Measure pairwise accuracy: each held-out grammatical sentence against a corruption of the same
   length that the grammar confirms ungrammatical, right when the real one has the lower energy;
   and how well the energy ranks held-out sentences by their exact log-probability.
4. Write OUTPUT/metrics.json and OUTPUT/training_curve.png, and print a short report.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from textebm.data.files import atomic_write, write_json


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit in a few minutes on 2 CPU cores."""

    output: str = "textebm-demo"
    train_sentences: int = 20_000
    validation_sentences: int = 300
    test_pairs: int = 500
    max_steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 2e-3
    sampling_chains: int = 32
    sampling_burn_in: int = 30
    sampling_sweeps: int = 30
    sampling_thin: int = 3
    seed: int = 0


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_write(path) as handle:
        handle.write("\n".join(lines) + "\n")


def make_data(config: DemoConfig, folder: Path) -> dict[str, list[str]]:
    """Train, validation and test sentences; test sentences never occur in training."""
    from textebm.data.grammar import default_grammar

    grammar = default_grammar()
    train = grammar.generate(config.train_sentences, seed=config.seed)
    validation = grammar.generate(config.validation_sentences, seed=config.seed + 1)
    seen = set(train)
    test = []
    for sentence in grammar.generate(20 * config.test_pairs, seed=config.seed + 2):
        if sentence not in seen:
            test.append(sentence)
            seen.add(sentence)  # distinct test sentences too
        if len(test) == config.test_pairs:
            break
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("train", train), ("validation", validation), ("test", test)):
        _write_lines(folder / f"{name}.txt", lines)
    return {"train": train, "validation": validation, "test": test}


def train_model(config: DemoConfig, output: Path, data: dict[str, list[str]]) -> Path:
    """Tokenizer and tiny masked LM; a finished earlier run in the same folder is reused."""
    from textebm.data.tokenizers import train_tokenizer
    from textebm.recipes.config import MlmConfig
    from textebm.recipes.mlm import train_mlm

    tokenizer_dir = output / "tokenizer"
    if not (tokenizer_dir / "tokenizer.json").exists():
        tokenizer = train_tokenizer(data["train"], kind="wordlevel", model_max_length=32)
        tokenizer.save_pretrained(tokenizer_dir)
    recipe = MlmConfig(
        corpus=str(output / "data" / "train.txt"),
        validation=str(output / "data" / "validation.txt"),
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        context_length=32,
        dropout=0.0,  # the corpus is endless in effect: no overfitting to fight
        max_steps=config.max_steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        eval_every=max(config.max_steps // 5, 1),
        checkpoint_every=max(config.max_steps // 5, 1),
        pll_examples=config.validation_sentences,
        seed=config.seed,
        output=str(output / "model"),
    )
    return train_mlm(recipe)


def evaluate(model_dir: Path, test: list[str], seed: int) -> dict:
    """Pairwise accuracy of `norm` and `raw`, and rank correlation with exact log-probability."""
    from textebm.data.grammar import default_grammar
    from textebm.energies import MaskedLMEnergy
    from textebm.eval.pairwise import pairwise_accuracy, spearman
    from textebm.models.loading import load_masked_lm

    grammar = default_grammar()
    rng = random.Random(seed)
    corrupted = [grammar.corrupt(sentence, rng) for sentence in test]
    model, tokenizer = load_masked_lm(str(model_dir))
    results: dict = {"pairs": len(test)}
    for kind in ("norm", "raw"):
        energy = MaskedLMEnergy(model, tokenizer, kind=kind)
        results[f"pairwise_accuracy_{kind}"] = pairwise_accuracy(energy, test, corrupted)
        if kind == "norm":
            energies = [s.energy for s in energy.score_texts(test)]
            log_probs = [grammar.log_prob(s) for s in test]
            results["spearman_minus_energy_vs_log_prob"] = spearman(
                [-e for e in energies], log_probs
            )
    results["examples"] = [
        {"grammatical": good, "corrupted": bad}
        for good, bad in zip(test[:3], corrupted[:3], strict=True)
    ]
    return results


def run_demo(config: DemoConfig) -> dict:
    """Run every stage; return (and write to OUTPUT/metrics.json) the measured figures."""
    from textebm.data.grammar import default_grammar
    from textebm.eval.curves import plot_training_curve

    output = Path(config.output)
    started = time.perf_counter()
    data = make_data(config, output / "data")
    grammar = default_grammar()
    model_dir = train_model(config, output, data)
    trained = time.perf_counter()
    metrics = {
        "config": asdict(config),
        "language": {
            "words": len(grammar.vocabulary()),
            "mean_length": grammar.mean_length(),
            "entropy_nats": grammar.entropy(),
        },
        "training": _last_validation(model_dir / "metrics.jsonl"),
        "evaluation": evaluate(model_dir, data["test"], config.seed),
    }
    if config.sampling_chains:
        from textebm.demo.sampling import run_sampling

        metrics["sampling"] = run_sampling(
            model_dir,
            config.sampling_chains,
            config.sampling_burn_in,
            config.sampling_sweeps,
            config.sampling_thin,
            config.seed,
        )
    plot_training_curve(
        model_dir / "metrics.jsonl",
        output / "training_curve.png",
        title="tiny masked LM on the embedded language",
    )
    metrics["seconds"] = {"train": trained - started, "total": time.perf_counter() - started}
    write_json(output / "metrics.json", metrics)
    return metrics


def _last_validation(metrics_path: Path) -> dict:
    last: dict = {}
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("split") == "validation":
            last = record
    return last


def report(metrics: dict, output: str) -> str:
    """The printed summary."""
    language, training, evaluation = (
        metrics["language"],
        metrics["training"],
        metrics["evaluation"],
    )
    norm = evaluation["pairwise_accuracy_norm"]
    raw = evaluation["pairwise_accuracy_raw"]
    lines = [
        f"embedded language: {language['words']} words, mean length "
        f"{language['mean_length']:.2f} words, entropy {language['entropy_nats']:.2f} nats",
        f"tiny masked LM (2 layers x 64): {metrics['config']['max_steps']} steps, validation "
        f"loss {training.get('loss', float('nan')):.3f}, pseudo-perplexity "
        f"{training.get('pseudo_perplexity', float('nan')):.2f}",
        f"pairwise accuracy, grammatical vs corrupted ({norm['pairs']} held-out pairs, "
        f"chance 0.50): norm {norm['accuracy']:.3f}, raw {raw['accuracy']:.3f}",
        "rank correlation of -E_norm with the exact log-probability: "
        f"{evaluation['spearman_minus_energy_vs_log_prob']:.3f}",
        *_sampling_lines(metrics),
        f"took {metrics['seconds']['total']:.0f} s; outputs in {output}/ "
        "(model/, metrics.json, training_curve.png)",
    ]
    return "\n".join(lines)


def _sampling_lines(metrics: dict) -> list[str]:
    sampling = metrics.get("sampling")
    if not sampling:
        return []
    config = metrics["config"]
    lines = [
        f"sampling: {config['sampling_chains']} chains from all-[MASK], lengths drawn from the "
        f"grammar, {config['sampling_burn_in']} burn-in + {config['sampling_sweeps']} sweeps; "
        f"exact log p of the grammar's own sentences averages "
        f"{sampling['reference_mean_log_prob']:.2f}",
    ]
    for name, label in (("mh", "MH, raw energy"), ("gibbs", "degenerate Gibbs")):
        result = sampling[name]
        mean = result["mean_log_prob_grammatical"]
        lines.append(
            f"  {label:17s} {result['fraction_grammatical']:.0%} grammatical, mean exact log p "
            f"{'n/a' if mean is None else f'{mean:.2f}'} (of those), acceptance "
            f"{result['acceptance_rate']:.2f}, novel transitions "
            f"{result['novel_transition_rate']:.2f}"
        )
    return lines
