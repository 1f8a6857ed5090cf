"""MAUVE (Pillutla et al. 2021) between generated and reference texts, on features from a local
encoder, through the `mauve-text` package (`pip install 'textebm[mauve]'`).

mauve-text's own featuriser downloads GPT-2 large; here the features are computed beforehand and
passed as `p_features` (references, the human side, as its documentation names them) and
`q_features` (generations): each text's mean-pooled last hidden state (padding excluded) from
`AutoModel` on a local folder, e.g. a MiniLM sentence encoder or a BERT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.errors import UsageError

MISSING = "MAUVE needs the mauve-text package: pip install 'textebm[mauve]'"


def import_mauve():
    """The `mauve` module, or a one-line UsageError naming the extra."""
    try:
        import mauve
    except ImportError:
        raise UsageError(MISSING) from None
    return mauve


def load_encoder(folder: str, device: str | None = None):
    """AutoModel and its tokenizer from a LOCAL folder (never the hub), in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    from textebm.models.loading import pick_device

    if not (Path(folder) / "config.json").is_file():
        raise UsageError(f"--features-model {folder}: not a local model folder (no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModel.from_pretrained(folder)
    except (OSError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise UsageError(f"--features-model {folder}: cannot load: {reason[:160]}") from None
    if tokenizer.pad_token_id is None:  # GPT-2-style tokenizers: any id, it is masked anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return model.to(pick_device(device)).eval(), tokenizer


@torch.no_grad()
def mean_pooled_features(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    batch_size: int = 32,
) -> np.ndarray:
    """(len(texts), hidden) float32: each text's last hidden states averaged over its tokens
    (special tokens included, padding not), texts cut at the encoder's maximum length."""
    from textebm.energies.masked_lm import model_max_length

    limit = model_max_length(model, tokenizer)
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=limit,
            return_tensors="pt",
        ).to(device)
        hidden = model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        rows.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu())
    return torch.cat(rows).numpy()


def mauve_score(
    reference_features: np.ndarray, generated_features: np.ndarray, seed: int = 25
) -> dict[str, float]:
    """MAUVE and the frontier integral of generations against references (mauve-text's
    defaults: buckets = n / 10, scaling factor 5, PCA to 90% of the variance)."""
    mauve = import_mauve()
    out = mauve.compute_mauve(
        p_features=reference_features, q_features=generated_features, seed=seed, verbose=False
    )
    return {
        "mauve": float(out.mauve),
        "frontier_integral": float(out.frontier_integral),
        "mauve_buckets": int(out.num_buckets),
    }
