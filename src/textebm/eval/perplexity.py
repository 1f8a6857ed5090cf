"""Perplexity of a causal LM on a corpus, measured the standard way (the reference perplexity).

The corpus is one token stream in which every line is `bos line eos`, exactly as the causal-LM
recipe trains (`textebm.recipes.clm`; bos is left out when the tokenizer's bos is its eos). Every
token is scored except the bos tokens, which always follow an eos and carry no information: so
each word and each line's end-of-sentence token counts, and on PTB `<unk>` is an ordinary word.
That is the convention of the PTB literature (82,430 scored tokens on its test set).

A model sees at most `context_length` tokens, so the stream is read in windows of that length,
`stride` tokens apart: each window scores only its last `stride` tokens, which no earlier window
scored (the first window scores all it can: every token but the first of the stream), so every
token is scored exactly once and, past the first window, with at least `context_length - stride`
tokens of context. The default `stride = context_length - 1` is nearly disjoint blocks (cheapest;
a token at a block's start still sees the token before it); a smaller stride costs about
`context_length / stride` times more forward passes and gives a lower, fairer perplexity.

    perplexity = exp( -(1/N) sum_t log p(x_t | x_{t-k..t-1}) ),  N = number of scored tokens
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.causal_lm import causal_specials, frame


@dataclass
class Perplexity:
    """Summed negative log-likelihood (nats) over `tokens` scored tokens, and its perplexity."""

    nll: float
    tokens: int
    context_length: int
    stride: int

    @property
    def loss(self) -> float:
        """Mean negative log-likelihood per scored token (nats)."""
        return self.nll / max(self.tokens, 1)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    def as_dict(self) -> dict[str, float]:
        return {
            "perplexity": self.perplexity,
            "loss": self.loss,
            "nll": self.nll,
            "tokens": self.tokens,
            "context_length": self.context_length,
            "stride": self.stride,
        }


def token_stream(
    tokenizer: PreTrainedTokenizerBase, lines: Iterable[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The corpus as the recipe's stream: `bos line eos` per non-blank line.

    Returns (ids, scored): ids (n,) int64 and scored (n,) bool, False at the bos tokens.
    """
    bos, _ = causal_specials(tokenizer)
    # Each line follows the previous line's eos; a distinct bos is still written before it.
    texts = [line for line in lines if line.strip()]
    stream = [token for ids in frame(tokenizer, texts, start=bos is not None) for token in ids]
    ids = torch.tensor(stream, dtype=torch.long)
    scored = ids != bos if bos is not None else torch.ones_like(ids, dtype=torch.bool)
    return ids, scored


def _windows(n: int, context_length: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored position) of each window over a stream of n tokens.

    A window scores positions first..end-1, each given the tokens from `begin` on; begin < first.
    """
    windows, first = [], 1  # position 0 has no context: never scored
    while first < n:
        end = min(context_length if first == 1 else first + stride, n)
        windows.append((max(0, end - context_length), end, first))
        first = end
    return windows


def _summed_nll(model: PreTrainedModel, inputs: torch.Tensor, labels: torch.Tensor):
    """(summed negative log-likelihood, number of scored positions) of one batch.

    inputs: (batch, width) int64, right-padded; labels: (batch, width) int64, the token each
    position's logits predict, -100 where nothing is scored. Right padding needs no attention
    mask: causal attention never looks ahead.
    """
    device = next(model.parameters()).device
    logits = model(input_ids=inputs.to(device)).logits.float()
    labels = labels.to(device)
    nll = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum"
    )
    return float(nll), int((labels != -100).sum())


@torch.no_grad()
def stream_perplexity(
    model: PreTrainedModel,
    ids: torch.Tensor,
    scored: torch.Tensor | None = None,
    context_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 16,
) -> Perplexity:
    """Perplexity of a causal LM over one token stream, in sliding windows (see module notes).

    ids: (n,) int64; scored: (n,) bool, which tokens count (default all but the first).
    context_length: window length (default the model's `n_positions`/`max_position_embeddings`);
    stride: tokens newly scored per window, below context_length (default context_length - 1).
    """
    if context_length is None:
        config = model.config
        context_length = getattr(config, "n_positions", None) or config.max_position_embeddings
    stride = stride or context_length - 1
    if not 0 < stride < context_length:
        raise ValueError(f"stride must lie in [1, context_length - 1], not {stride}")
    if scored is None:
        scored = torch.ones_like(ids, dtype=torch.bool)
    was_training = model.training
    model.eval()
    windows = _windows(len(ids), context_length, stride)
    nll, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        group = windows[start : start + batch_size]
        inputs, _ = right_pad([ids[begin:end] for begin, end, _ in group], 0)
        labels = torch.full(inputs.shape, -100, dtype=torch.long)
        for row, (begin, end, first) in enumerate(group):
            # The logits at position j predict token j + 1: label position j with token j + 1.
            targets = torch.arange(first, end)
            targets = targets[scored[first:end]]
            labels[row, targets - begin - 1] = ids[targets]
        batch_nll, batch_count = _summed_nll(model, inputs, labels)
        nll, count = nll + batch_nll, count + batch_count
    model.train(was_training)
    return Perplexity(nll, count, context_length, stride)


def corpus_perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    lines: Iterable[str],
    context_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 16,
) -> Perplexity:
    """Perplexity of a causal LM on text lines, the standard way (see the module notes)."""
    ids, scored = token_stream(tokenizer, lines)
    return stream_perplexity(model, ids, scored, context_length, stride, batch_size)


@torch.no_grad()
def sentence_perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Iterable[str],
    batch_size: int = 64,
) -> Perplexity:
    """Perplexity of a causal LM over independent sentences (e.g. samples), each `bos text eos`.

    Unlike `corpus_perplexity`, no sentence sees another as context. Each sentence's words and
    its eos are scored, bos is context only (eos stands in for a missing or non-distinct bos, as
    in `textebm.energies.causal_lm`, whose `CausalLMEnergy` gives the same numbers), and
    the perplexity is exp(summed NLL / scored tokens) over all of them. The result's
    `context_length` is the longest sentence (special tokens included) and `stride` is 0.
    """
    rows = frame(tokenizer, list(texts))
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        group = rows[start : start + batch_size]
        inputs, _ = right_pad(group, 0)
        # Position j predicts token j + 1: each row's labels are its tokens shifted left by one.
        labels, _ = right_pad([row[1:] for row in group], -100, width=inputs.shape[1])
        batch_nll, batch_count = _summed_nll(model, inputs, labels)
        nll, count = nll + batch_nll, count + batch_count
    model.train(was_training)
    return Perplexity(nll, count, max((len(row) for row in rows), default=0), 0)
