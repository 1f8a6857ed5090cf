"""Beam search over an encoder-decoder (`textebm train seq2seq`): the autoregressive reference.

`translate_beam` wraps Hugging Face's `generate(num_beams=...)` (beam 1 is greedy decoding) with
what the translation table needs:
- no padding, [CLS] or [MASK] in a translation (`never_generated`);
- a length limit per sentence, `floor(ratio x source words) + extra` target tokens (eos
  included), enforced per row by forcing eos (`LengthLimit`), so that a sentence's translation
  does not depend on the other sentences of its batch;
- batches of sources of similar length (sorted, longest first), outputs back in input order;
- the work it took: model passes, counted as sequences through the encoder or decoder (a call
  over a batch of rows counts its rows, as the CMLM decoders count masked copies; with the
  decoder's key-value cache each decoder row reads ONE new token, so a beam pass is far cheaper
  than a CMLM pass over the whole target), and wall time, in total and per batch.
Beam scores are Hugging Face's: the summed log-probability of the tokens after [CLS], eos
included, divided by their number to the power `length_penalty` (0 = plain sum).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad


@dataclass
class BeamTranslations:
    """The result of `translate_beam`, one entry per source, in input order.

    texts: the translations (see `decode_target`); scores: their beam scores (None for a blank
    source); passes: encoder plus decoder rows over all batches (a call over sentences x beams
    rows counts them all); sentence_passes: those of the batch that decoded each sentence (its own
    with batch_size 1; 0 for a blank source);
    seconds: wall time of the whole call; sentence_seconds: each batch's wall time shared equally
    by its sentences; truncated: sources cut to the model's positions.
    """

    texts: list[str]
    scores: list[float | None]
    passes: int = 0
    sentence_passes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    sentence_seconds: list[float] = field(default_factory=list)
    truncated: int = 0


class LengthLimit(LogitsProcessor):
    """Forces eos on each row whose generated tokens reach its limit less one.

    limits: (batch,) int64, the most target tokens (eos included) per sentence; rows of generate
    are batch-major (sentence i's beams are rows i*beams .. i*beams + beams - 1).
    """

    def __init__(self, limits: torch.Tensor, beams: int, eos: int, prompt_length: int = 1):
        self.limits = limits.repeat_interleave(beams)
        self.eos, self.prompt_length = eos, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.prompt_length
        full = (generated >= self.limits.to(scores.device) - 1).nonzero().flatten()
        if len(full):
            # A new tensor: greedy search keeps the one it passes in as the step's raw logits.
            eos_score = scores[full, self.eos]
            scores = scores.clone()
            scores[full] = -math.inf
            scores[full, self.eos] = torch.where(
                torch.isfinite(eos_score), eos_score, torch.zeros_like(eos_score)
            )
        return scores


@contextlib.contextmanager
def count_passes(model: PreTrainedModel) -> Iterator[list[int]]:
    """Count the rows (sequences) that go through the model's encoder and decoder inside the
    block: yields a one-element list holding the running count."""
    count = [0]

    def hook(_module: object, args: tuple, kwargs: dict, _output: object) -> None:
        inputs = kwargs.get("input_ids")
        if inputs is None:
            inputs = kwargs.get("inputs_embeds")
        if inputs is None:
            inputs = args[0]
        count[0] += inputs.shape[0]

    handles = [
        part.register_forward_hook(hook, with_kwargs=True)
        for part in (model.get_encoder(), model.get_decoder())
    ]
    try:
        yield count
    finally:
        for handle in handles:
            handle.remove()


def decode_target(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> str:
    """Token ids as text, special tokens dropped, WITHOUT WordPiece's clean-up (which would write
    "man ." as "man." and "do not" as "don't"): translations of tokenised text, such as
    Multi30k's, are scored against tokenised references, so spacing must survive."""
    from tokenizers import decoders

    tokens = tokenizer.convert_ids_to_tokens(ids, skip_special_tokens=True)
    decoder = tokenizer.backend_tokenizer.decoder if tokenizer.is_fast else None
    if isinstance(decoder, decoders.WordPiece):
        return decoders.WordPiece(prefix=decoder.prefix, cleanup=False).decode(tokens)
    if decoder is None and tokenizer.is_fast:  # word-level: words between spaces
        return " ".join(tokens)
    return tokenizer.convert_tokens_to_string(tokens)


def never_generated(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids a translation never holds: padding, [CLS] (the decoder's start) and [MASK].
    A trained model gives them almost no mass; an untrained one may favour them."""
    ids = (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.mask_token_id)
    return sorted({i for i in ids if i is not None})


def length_limits(source_lengths: list[int], ratio: float, extra: int, most: int) -> list[int]:
    """floor(ratio x n) + extra target tokens for a source of n words (tokens less [CLS] and
    [SEP]), at least 1 and at most `most`."""
    return [max(1, min(most, math.floor(ratio * n) + extra)) for n in source_lengths]


def encode_sources(
    tokenizer: PreTrainedTokenizerBase, sources: list[str], positions: int
) -> tuple[list[list[int]], int]:
    """Each source as `[CLS] x [SEP]`, cut to `positions` tokens (its [SEP] kept last), and how
    many were cut."""
    encoded = tokenizer(list(sources))["input_ids"]
    cut = [ids for ids in encoded if len(ids) > positions]
    kept = [ids if len(ids) <= positions else ids[: positions - 1] + ids[-1:] for ids in encoded]
    return kept, len(cut)


def _sequence_scores(output, beam: int, eos: int, length_penalty: float) -> list[float]:
    """Each returned sequence's beam score. Beam search reports it; for greedy decoding it is
    computed the same way from the raw logits: sum of log p(token) up to and including eos,
    divided by (their number ** length_penalty)."""
    if beam > 1:
        return output.sequences_scores.tolist()
    steps = torch.stack(output.logits, dim=1).float().log_softmax(-1)  # (batch, steps, vocab)
    chosen = output.sequences[:, 1 : 1 + steps.shape[1]]
    token_scores = steps.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
    scores = []
    for row, ids in zip(token_scores, chosen.tolist(), strict=True):
        length = ids.index(eos) + 1 if eos in ids else len(ids)
        scores.append(float(row[:length].sum()) / length**length_penalty)
    return scores


@torch.no_grad()
def translate_beam(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: list[str],
    beam: int = 5,
    max_length_ratio: float = 2.0,
    max_length_extra: int = 10,
    length_penalty: float = 1.0,
    batch_size: int = 32,
) -> BeamTranslations:
    """Translate `sources` by beam search (beam 1: greedy), deterministic, in input order.

    model: an encoder-decoder (`AutoModelForSeq2SeqLM`, e.g. from `textebm train seq2seq`) whose
    generation config names the decoder start, eos and pad tokens; it is put in eval mode.
    max_length_ratio, max_length_extra: a source of n tokens ([CLS] and [SEP] not counted) gets
    at most floor(ratio x n) + extra target tokens, eos included (see `length_limits`).
    length_penalty: beam scores are log p / (tokens ** length_penalty); 1 = per-token mean.
    batch_size: sentences per generate call (each with `beam` rows).
    Blank sources translate to "" without a model pass.
    """
    if beam < 1 or batch_size < 1:
        raise ValueError(f"beam and batch_size must be at least 1, not {beam} and {batch_size}")
    if max_length_ratio < 0 or max_length_extra < 1:
        raise ValueError("max_length_ratio must be >= 0 and max_length_extra >= 1")
    model.eval()
    device = next(model.parameters()).device
    eos = model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    positions = model.config.max_position_embeddings
    never = never_generated(tokenizer)
    encoded, truncated = encode_sources(tokenizer, sources, positions)
    words = [len(ids) - 2 for ids in encoded]
    limits = length_limits(words, max_length_ratio, max_length_extra, positions - 1)
    count = len(sources)
    result = BeamTranslations([""] * count, [None] * count, sentence_passes=[0] * count)
    result.sentence_seconds, result.truncated = [0.0] * count, truncated
    todo = [i for i in range(count) if sources[i].strip()]
    todo.sort(key=lambda i: -len(encoded[i]))  # stable: ties keep input order
    started_all = time.perf_counter()
    with count_passes(model) as passes:
        for first in range(0, len(todo), batch_size):
            chosen = todo[first : first + batch_size]
            started, before = time.perf_counter(), passes[0]
            input_ids, attention_mask = right_pad(
                [encoded[i] for i in chosen], tokenizer.pad_token_id
            )
            batch_limits = torch.tensor([limits[i] for i in chosen])
            output = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                num_beams=beam,
                do_sample=False,
                suppress_tokens=never,
                max_new_tokens=int(batch_limits.max()),
                length_penalty=length_penalty,
                early_stopping=beam > 1,  # stop a sentence once it has `beam` finished hypotheses
                logits_processor=LogitsProcessorList([LengthLimit(batch_limits, beam, eos)]),
                output_logits=beam == 1,
                output_scores=beam > 1,
                return_dict_in_generate=True,
            )
            scores = _sequence_scores(output, beam, eos, length_penalty)
            seconds = time.perf_counter() - started
            for row, index in enumerate(chosen):
                ids = output.sequences[row, 1:].tolist()
                result.texts[index] = decode_target(
                    tokenizer, ids[: ids.index(eos)] if eos in ids else ids
                )
                result.scores[index] = scores[row]
                result.sentence_passes[index] = passes[0] - before
                result.sentence_seconds[index] = seconds / len(chosen)
    result.passes = passes[0]
    result.seconds = time.perf_counter() - started_all
    return result
