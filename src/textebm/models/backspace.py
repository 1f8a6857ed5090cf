"""The `<bkspc>` action of SequenceMatch (Cundy & Ermon 2024) for any Hugging Face causal LM.

`add_backspace(model, tokenizer)` adds the special token `<bkspc>` to the tokenizer and one row to
the model's input embeddings and, when they are not tied, to its output layer. The model then
saves and loads like any other (`save_pretrained` / `from_pretrained`): nothing here is stored
outside the model's own weights and the tokenizer's files.

How the new rows start, and why:
- logits over the existing tokens are untouched (no existing weight changes), so the model's
  distribution over them, given that it does not press `<bkspc>`, is exactly what it was;
- the output row (and bias, where the head has one) is the mean of the existing output rows
  (biases), so the `<bkspc>` logit is the *mean* logit over the old vocabulary in every state.
  By Jensen, exp(mean l) <= mean exp(l) = Z / V, hence p(<bkspc> | s) <= 1 / (V + 1) in every
  state, whatever the weights: a uniform share at most, and far less wherever the model is
  confident (the mean logit then sits well below the few large ones). A fixed large negative
  bias would need a bias parameter, which GPT-2 and Llama heads lack;
- the input row is the mean input embedding, which keeps it inside the cloud of embeddings the
  layers were trained on. (The one-pass layout and backspace generation never feed `<bkspc>` as
  an input, re-entering the surviving token instead, so this row only matters to a caller that
  does.) With tied embeddings the two rows are one, and both arguments hold.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

BKSPC_TOKEN = "<bkspc>"


def backspace_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The id of `<bkspc>` in `tokenizer`, or None when it has none."""
    return tokenizer.get_vocab().get(BKSPC_TOKEN)


def has_backspace(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer has `<bkspc>` and the model an embedding row for it."""
    token = backspace_id(tokenizer)
    return token is not None and token < model.get_input_embeddings().num_embeddings


def add_backspace(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """Add `<bkspc>` to `tokenizer` and `model` (in place) and return its id.

    Idempotent: on a pair that already has it, changes nothing and returns the id. A tokenizer
    that has it beside a model without the row raises ValueError: they were not saved together.
    """
    token = backspace_id(tokenizer)
    if token is not None:
        if not has_backspace(model, tokenizer):
            raise ValueError(
                f"the tokenizer has {BKSPC_TOKEN} (id {token}) but the model has only "
                f"{model.get_input_embeddings().num_embeddings} embedding rows: "
                "pass the tokenizer saved with this model"
            )
        return token
    known = len(tokenizer)  # rows with a token: the mean is taken over these only
    token = add_backspace_token(tokenizer)
    add_backspace_row(model, token, known)
    return token


def add_backspace_token(tokenizer: PreTrainedTokenizerBase) -> int:
    """Add `<bkspc>` to `tokenizer` alone (in place; idempotent) and return its id. Its model
    then needs `add_backspace_row(model, id, known)`, known = len(tokenizer) before the call."""
    # Extend the extra special tokens, not replace them: a tokenizer may already have some.
    if backspace_id(tokenizer) is None:
        tokenizer.add_special_tokens(
            {"extra_special_tokens": [BKSPC_TOKEN]}, replace_extra_special_tokens=False
        )
    token = backspace_id(tokenizer)
    assert token is not None
    return token


def add_backspace_row(model: PreTrainedModel, token: int, known: int) -> None:
    """Give `model` its `<bkspc>` row `token`, set to the mean of the first `known` rows (the
    tokens it had): for a tokenizer that already gained `<bkspc>` (e.g. before a training run
    tokenised its data) beside a model that has not."""
    rows = model.get_input_embeddings().num_embeddings
    # A matrix may already have spare rows (padded to a multiple): never shrink it.
    if token >= rows:
        model.resize_token_embeddings(token + 1, mean_resizing=False)
    _initialise_row(model, token, known)


@torch.no_grad()
def _initialise_row(model: PreTrainedModel, token: int, known: int) -> None:
    """Set row `token` of the input embeddings, output layer and output bias to the mean of the
    first `known` rows (see the module docstring for why)."""
    inputs = model.get_input_embeddings().weight
    inputs[token] = inputs[:known].float().mean(0).to(inputs.dtype)
    outputs = model.get_output_embeddings()
    if outputs is None:
        return
    if outputs.weight.data_ptr() != inputs.data_ptr():  # untied: its own row
        outputs.weight[token] = outputs.weight[:known].float().mean(0).to(outputs.weight.dtype)
    bias = getattr(outputs, "bias", None)
    if bias is not None:
        bias[token] = bias[:known].float().mean().to(bias.dtype)
