"""The `--energy` names of the command line, each a loader and an energy constructor.

`score` and `eval pairs` build their energy here, so a new family plugs into both with one entry
in `ENERGIES`, e.g. `"electric": EnergyKind(_electric_model, ElectricEnergy, "...")`.

Importing this module stays cheap (no torch): loaders and constructors import their modules when
called, since the command line reads `ENERGIES` while it builds its parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textebm.errors import UsageError

if TYPE_CHECKING:
    from textebm.energies.base import Energy


@dataclass(frozen=True)
class EnergyKind:
    """How one `--energy` name becomes an energy.

    load: (model name or folder, device) -> what `make` takes first: (model, tokenizer), or
        (model, tokenizer, head) for a classifier; one-line errors (UsageError).
    make: (*loaded, temperature=, batch_tokens=[, whole_word=]) -> an energy that has
        `encode(texts)` and `score_texts(texts, truncate=, progress=)` (see MaskedLMEnergy).
    help: one phrase for `--help`.
    whole_word: whether `make` takes `whole_word` (masked LMs only).
    """

    load: Callable[[str, Any], tuple[Any, ...]]
    make: Callable[..., Energy]
    help: str
    whole_word: bool = False


def _masked_lm(name: str, device: Any) -> tuple[Any, Any]:
    from textebm.models import loading  # the module, so that tests can replace its loaders

    return loading.load_masked_lm(name, device=device)


def _causal_lm(name: str, device: Any) -> tuple[Any, Any]:
    from textebm.models import loading

    return loading.load_causal_lm(name, device=device)


def _electric(name: str, device: Any) -> tuple[Any, Any]:
    from textebm.models import loading

    return loading.load_electric(name, device=device)


def _electric_energy(model: Any, tokenizer: Any, **options: Any) -> Energy:
    from textebm.energies.electric import ElectricEnergy

    return ElectricEnergy(model, tokenizer, **options)


def _classifier(kind: str) -> Callable[[str, Any], tuple[Any, ...]]:
    def load(name: str, device: Any) -> tuple[Any, ...]:
        from textebm.models import loading

        return loading.load_classifier(name, device=device, need_head=kind == "scalar")

    return load


def _classifier_energy(kind: str) -> Callable[..., Energy]:
    def make(model: Any, tokenizer: Any, head: Any, **options: Any) -> Energy:
        from textebm.energies.classifier import ClassifierEnergy

        return ClassifierEnergy(model, tokenizer, kind, head, **options)

    return make


def _masked_lm_energy(kind: str) -> Callable[..., Energy]:
    def make(model: Any, tokenizer: Any, **options: Any) -> Energy:
        from textebm.energies.masked_lm import MaskedLMEnergy

        return MaskedLMEnergy(model, tokenizer, kind=kind, **options)

    return make


def _causal_lm_energy(model: Any, tokenizer: Any, **options: Any) -> Energy:
    from textebm.energies.causal_lm import CausalLMEnergy

    return CausalLMEnergy(model, tokenizer, **options)


ENERGIES: dict[str, EnergyKind] = {
    "norm": EnergyKind(
        _masked_lm, _masked_lm_energy("norm"), "negative pseudo-log-likelihood", whole_word=True
    ),
    "raw": EnergyKind(_masked_lm, _masked_lm_energy("raw"), "negative summed logits", True),
    "clm": EnergyKind(
        _causal_lm,
        _causal_lm_energy,
        "a causal LM's negative log-likelihood of bos + sentence + eos (eos scored, in tokens)",
    ),
    "electric": EnergyKind(
        _electric,
        _electric_energy,
        "an Electric model's summed per-token energies, one pass per sentence",
    ),
    "scalar": EnergyKind(
        _classifier("scalar"), _classifier_energy("scalar"), "a classifier's scalar energy head"
    ),
    "hidden": EnergyKind(
        _classifier("hidden"), _classifier_energy("hidden"), "-logsumexp of a classifier's logits"
    ),
    "sharp-hidden": EnergyKind(
        _classifier("sharp-hidden"),
        _classifier_energy("sharp-hidden"),
        "-max of a classifier's logits (classifier energies: one per sentence, token_energies "
        "empty)",
    ),
}


def energy_help() -> str:
    """`--energy` help text: each name and what it computes."""
    return "; ".join(f"{name}: {kind.help}" for name, kind in ENERGIES.items())


def check_energy(name: str, whole_word: bool = False) -> EnergyKind:
    """The kind named `name`, or a UsageError if it is unknown or cannot take the options."""
    kind = ENERGIES.get(name)
    if kind is None:
        raise UsageError(f"unknown --energy {name!r}; choose from {', '.join(ENERGIES)}")
    if whole_word and not kind.whole_word:
        raise UsageError(f"--whole-word is for masked LMs, not --energy {name}")
    return kind


def build_energy(
    name: str,
    model: str,
    *,
    device: Any = None,
    whole_word: bool = False,
    temperature: float = 1.0,
    batch_tokens: int = 8192,
) -> Energy:
    """Load `model` (hub id or folder) and wrap it in the energy `name`, on `device`.

    Raises UsageError for an unknown name, an option the energy cannot take, a model that cannot
    be loaded, or one the energy refuses (e.g. whole-word masking with a slow tokenizer).
    """
    kind = check_energy(name, whole_word)
    loaded = kind.load(model, device)
    options: dict[str, Any] = {"temperature": temperature, "batch_tokens": batch_tokens}
    if kind.whole_word:
        options["whole_word"] = whole_word
    try:
        return kind.make(*loaded, **options)
    except ValueError as error:
        raise UsageError(f"{model}: {error}") from None
