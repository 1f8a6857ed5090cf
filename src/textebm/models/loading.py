"""Loading Hugging Face models and tokenizers by hub id or local folder, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
)
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.errors import UsageError
from textebm.models.hub import offline_unless_reachable


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given, else the first CUDA device when there is one, else the CPU.

    A device this machine lacks (`cuda` without CUDA, `cuda:3` on two GPUs, a misspelling) is a
    one-line error naming the devices it has, not a traceback from deep inside the first forward.
    """
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device!r} is not a device; {_devices_here()}") from None
    if chosen.type == "cpu":
        return chosen
    module = getattr(torch, chosen.type, None)
    available = module is not None and hasattr(module, "is_available") and module.is_available()
    count = module.device_count() if available and hasattr(module, "device_count") else 0
    if not available or (chosen.index is not None and chosen.index >= count):
        raise UsageError(f"--device {device}: this machine has no such device; {_devices_here()}")
    return chosen


def _devices_here() -> str:
    names = ["cpu"]
    for kind in ("cuda", "xpu", "mps"):
        module = getattr(torch, kind, None)
        if module is not None and hasattr(module, "is_available") and module.is_available():
            count = module.device_count() if hasattr(module, "device_count") else 1
            names += [kind] + [f"{kind}:{index}" for index in range(count)]
    return "devices here: " + ", ".join(names)


def _check_source(name: str) -> None:
    """Fail fast on a folder that does not exist, and go offline when the hub can't be reached."""
    if Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise UsageError(f"{name} is not a model folder: it has no config.json")
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise UsageError(f"model folder not found: {name}")
    offline_unless_reachable()


def _not_found(name: str, error: Exception) -> UsageError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = (
        "" if Path(name).is_dir() else "; offline, pass a local folder saved with save_pretrained"
    )
    return UsageError(f"cannot load model {name!r}: {reason[:160]}{hint}")


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The fast tokenizer saved with a model (hub id or folder)."""
    _check_source(name)
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None


def _load_model(
    auto_class: type, name: str, device: str | torch.device | None, dtype: torch.dtype
) -> PreTrainedModel:
    """`auto_class.from_pretrained(name)` in eval mode on `device`, with one-line errors.

    Uses PyTorch's scaled-dot-product attention where the architecture supports it (the fastest
    path on CPU and GPU alike), falling back to the eager implementation otherwise.
    """
    try:
        try:
            model = auto_class.from_pretrained(name, dtype=dtype, attn_implementation="sdpa")
        except ValueError as error:
            if "sdpa" not in str(error).lower():
                raise
            model = auto_class.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None
    return model.to(pick_device(device)).eval()


def language_model_kind(name: str) -> str | None:
    """ "masked" or "causal": which kind of language model the folder (or hub id) `name` holds,
    from its config alone (no weights loaded); None when its config does not say.

    Why not just try `AutoModelForCausalLM`: a BERT masked LM loads as one too (BertLMHeadModel,
    with only a warning), so a wrong folder would silently generate nonsense. The saved
    `architectures` decide; without them, a model type that is only a masked LM, or a BERT-style
    one not configured as a decoder, is masked.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    _check_source(name)
    try:
        settings = AutoConfig.from_pretrained(name)
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None
    architectures = set(getattr(settings, "architectures", None) or ())
    if architectures & set(MODEL_FOR_MASKED_LM_MAPPING_NAMES.values()):
        return "masked"
    if architectures & set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()):
        return "causal"
    model_type = settings.model_type
    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not (
        causal and getattr(settings, "is_decoder", False)
    ):
        return "masked"
    return "causal" if causal else None


def load_masked_lm(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Any `AutoModelForMaskedLM` (hub id or folder) and its tokenizer, in eval mode on `device`."""
    tokenizer = load_tokenizer(name)
    model = _load_model(AutoModelForMaskedLM, name, device, dtype)
    if tokenizer.mask_token_id is None:
        raise UsageError(f"model {name!r} has no mask token: it is not a masked language model")
    return model, tokenizer


def load_causal_lm(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Any `AutoModelForCausalLM` (hub id or folder) and its tokenizer, in eval mode on `device`.

    The tokenizer must have an eos token: a causal LM's sentence ends with it (see
    `textebm.energies.causal_lm`). A folder whose config says masked LM is refused: it would
    load as one (BertLMHeadModel) and score or generate nonsense (see `language_model_kind`).
    """
    tokenizer = load_tokenizer(name)
    if language_model_kind(name) == "masked":
        raise UsageError(
            f"model {name!r} is a masked language model, not a causal one (its energies: "
            "--energy norm or raw)"
        )
    model = _load_model(AutoModelForCausalLM, name, device, dtype)
    if tokenizer.eos_token_id is None:
        raise UsageError(
            f"model {name!r}: its tokenizer has no eos token, which ends every sentence a causal "
            "LM scores or generates"
        )
    return model, tokenizer


def load_classifier(
    name: str,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    need_head: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, PreTrainedModel | None]:
    """An `AutoModelForSequenceClassification` (hub id or folder), its tokenizer, and its scalar
    energy head (the folder's `energy_head/`, see `textebm.models.energy_head`) or None.

    need_head: a folder without a head is a one-line error (the scalar energy needs one).
    """
    from textebm.models.energy_head import HEAD_FOLDER, EnergyHead

    model, tokenizer = load_sequence_classifier(name, device, dtype)
    head_dir = Path(name) / HEAD_FOLDER
    head = None
    if (head_dir / "config.json").is_file():
        try:
            head = EnergyHead.from_pretrained(str(head_dir), dtype=dtype)
        except (OSError, ValueError, KeyError) as error:
            raise _not_found(str(head_dir), error) from None
        head = head.to(pick_device(device)).eval()
    elif need_head:
        raise UsageError(
            f"{name} has no scalar energy head ({HEAD_FOLDER}/): train the classifier with "
            "--energy scalar, or score with --energy hidden or sharp-hidden"
        )
    return model, tokenizer, head


def load_electric(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """An Electric model (`textebm.models.ElectricModel`, hub id or folder) and its tokenizer, in
    eval mode on `device`. Any other model type is a one-line error naming what it is."""
    from textebm.models.electric import ElectricConfig, register

    register()
    return _load_own_type(
        name,
        device,
        dtype,
        model_type=ElectricConfig.model_type,
        otherwise="not an Electric one; for a masked LM use --energy norm or raw, for a causal LM "
        "--energy clm",
    )


def load_cmlm(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A conditional masked LM (`textebm.models.CMLMModel`, hub id or folder) and its joint
    tokenizer, in eval mode on `device`. Any other model type is a one-line error."""
    from textebm.models.cmlm import CMLMConfig, register

    register()
    return _load_own_type(
        name,
        device,
        dtype,
        model_type=CMLMConfig.model_type,
        otherwise="not a conditional masked LM; train one with `textebm train cmlm`",
    )


def _load_own_type(
    name: str,
    device: str | torch.device | None,
    dtype: torch.dtype,
    model_type: str,
    otherwise: str,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A model of one of textebm's own types (registered with the Auto classes by the caller) and
    its tokenizer. The config is read first, so a folder of any other type is a one-line
    UsageError, `model NAME is a TYPE model, ` + `otherwise`, before its weights load."""
    tokenizer = load_tokenizer(name)
    try:
        found = AutoConfig.from_pretrained(name).model_type
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None
    if found != model_type:
        raise UsageError(f"model {name!r} is a {found!r} model, {otherwise}")
    return _load_model(AutoModel, name, device, dtype), tokenizer


def load_sequence_classifier(
    name: str, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A trained `AutoModelForSequenceClassification` (hub id or folder) and its tokenizer, in eval
    mode on `device`.

    A folder whose weights lack any of the classifier's (a bare encoder or a masked LM) is an
    error: Hugging Face would fill them with random numbers, and every metric would be noise.
    """
    tokenizer = load_tokenizer(name)
    try:
        try:
            model, info = AutoModelForSequenceClassification.from_pretrained(
                name, dtype=dtype, attn_implementation="sdpa", output_loading_info=True
            )
        except ValueError as error:
            if "sdpa" not in str(error).lower():
                raise
            model, info = AutoModelForSequenceClassification.from_pretrained(
                name, dtype=dtype, output_loading_info=True
            )
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(name, error) from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        kinds = ", ".join(getattr(model.config, "architectures", None) or ["unknown"])
        raise UsageError(
            f"model {name!r} ({kinds}) is not a trained sequence classifier: its weights lack "
            f"{len(missing)} of the classifier's (e.g. {missing[0]}); train one with "
            "`textebm train classifier`"
        )
    return model.to(pick_device(device)).eval(), tokenizer
