"""Slow, obviously correct reference energies, for tests and benchmarks to check against."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

# The tokens a tokenizer wraps a text in, or pads and masks it with: context, never scored.
# Named one by one (not "every special token") so that [UNK], a word of the text, is scored.
STRUCTURAL = ("cls", "sep", "pad", "mask", "bos", "eos")


@torch.no_grad()
def naive_masked_lm_energies(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    kind: str = "norm",
    whole_word: bool = False,
) -> list[list[float]]:
    """Per-token energies of each text, one masked copy and one full forward pass at a time.

    Returns, for each text, -log p(x_t | x_{\\t}) (norm) or -logit_t[x_t] (raw) for each token t
    that is not structural ([CLS], [SEP], [PAD], [MASK], BOS/EOS; [UNK] is scored), in order; the
    text's energy is their sum.
    """
    device = next(model.parameters()).device
    structural = {getattr(tokenizer, f"{name}_token_id", None) for name in STRUCTURAL} - {None}
    results = []
    for text in texts:
        encoding = tokenizer(text, add_special_tokens=True)
        ids = torch.tensor(encoding["input_ids"], device=device)
        words = encoding.word_ids()
        terms = []
        for t in range(len(ids)):
            if int(ids[t]) in structural:
                continue
            copy = ids.clone()
            copy[t] = tokenizer.mask_token_id
            if whole_word:
                for s in range(t + 1, len(ids)):
                    if words[s] is not None and words[s] == words[t]:
                        copy[s] = tokenizer.mask_token_id
            logits = model(input_ids=copy.unsqueeze(0)).logits[0, t].float()
            if kind == "norm":
                terms.append(float(-torch.log_softmax(logits, dim=-1)[ids[t]]))
            else:
                terms.append(float(-logits[ids[t]]))
        results.append(terms)
    return results
