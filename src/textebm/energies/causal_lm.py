"""Energy of a causal language model: the negative log-likelihood, the reference energy.

A text x of tokens x_1..x_n is read as the causal-LM recipe trains (`textebm train clm`): the
sequence `bos x_1 .. x_n eos`, where bos is only context and every other token is scored:

    E(x) = -log p(x) = -sum_{t=1}^{n+1} log p(x_t | bos, x_<t),    x_{n+1} = eos

divided by the temperature. Scoring eos makes p a distribution over finite texts (it says where a
text ends). Tokenizers whose bos is their eos (GPT-2) or that have no bos start from eos instead:
in the training stream every line follows the previous line's eos, so that is its context.

One forward pass scores every token of a sequence, so the work is one pass per sequence: sequences
are sorted by length and packed into passes under a token budget, as the masked-LM energy packs
its copies. The output layer runs at every position, so a pass holds batch_tokens x vocabulary
logits: lower `batch_tokens` for large vocabularies on small devices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.energies.masked_lm import ScoredText, SequenceError
from textebm.energies.one_pass import OnePassEnergy


def causal_specials(tokenizer: PreTrainedTokenizerBase) -> tuple[int | None, int]:
    """(bos, eos) token ids of the `bos line eos` layout; bos is None when the tokenizer has none
    or it is the eos (GPT-2). Raises ValueError when there is no eos."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos token to end each line with")
    bos = tokenizer.bos_token_id
    return (None if bos == eos else bos), eos


def frame(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], *, start: bool = True, end: bool = True
) -> list[list[int]]:
    """Each text's token ids as a causal LM reads a line: `bos ids eos`.

    start: begin with bos, or with eos when the tokenizer has no distinct bos (a line in the
        training stream follows the previous line's eos). A token stream passes
        start=False where the previous line's eos already precedes the line.
    end: end with eos; a generation prompt has none, so the model continues it.
    """
    bos, eos = causal_specials(tokenizer)
    head = ([bos if bos is not None else eos]) if start else []
    tail = [eos] if end else []
    return [head + ids + tail for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


class CausalLMEnergy(OnePassEnergy):
    """Energy of a Hugging Face causal LM (`AutoModelForCausalLM`): E(x) = -log p(x) / T.

    temperature: energies are divided by it.
    batch_tokens: token budget of one forward pass (sequences x padded length).
    max_padding: largest fraction of a pass's token slots that may be padding.
    Called on a batch of framed sequences (`bos x eos`, see `frame`), `token_energies` holds
    -log p(x_t | x_<t) / T at the scored positions; position 0 (bos) is context only.
    """

    def _setup(self) -> None:
        self.bos_id, self.eos_id = causal_specials(self.tokenizer)
        # Any id will do: padding sits after the real tokens, which causal attention never sees.
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_id

    def scorable(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, length) bool: real tokens after the first, which is context only."""
        scored = attention_mask.bool().clone()
        scored[:, 0] = False
        return scored

    def _score_rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(n, length) untempered -log p(x_t | x_<t); 0 at position 0 and at padding."""
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        n, length = input_ids.shape
        self.cost.add(sequences=n, tokens=n * length)
        # The logits at position j predict token j + 1. Shift the labels, not the logits: slicing
        # the logits would copy all of them.
        labels = torch.where(attention_mask[:, 1:].bool(), input_ids[:, 1:], -100)
        labels = F.pad(labels, (0, 1), value=-100)
        nll = F.cross_entropy(
            logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="none"
        ).view(n, length)
        return F.pad(nll[:, :-1], (1, 0))

    def encode(self, texts: list[str], truncate: bool = False) -> list[list[int]]:
        """Each text framed as `bos ids eos` (see `frame`).

        Raises SequenceError for a text with no token, or longer (bos and eos included) than the
        model's maximum length, unless `truncate`, which keeps bos, the first tokens and eos.
        """
        encoded = frame(self.tokenizer, texts)
        for index, ids in enumerate(encoded):
            if len(ids) <= 2:
                raise SequenceError(index, "no tokens to score")
            if len(ids) > self.max_length:
                if not truncate:
                    raise SequenceError(
                        index,
                        f"{len(ids)} tokens, more than the model's maximum of {self.max_length}",
                    )
                encoded[index] = [*ids[: self.max_length - 1], self.eos_id]
        return encoded

    def _mark_truncated(
        self, texts: list[str], results: list[ScoredText], encoded: list[list[int]]
    ) -> None:
        """A record's tokens are every token of the text, then eos; frame once more, uncut, to
        tell which texts lost their end."""
        for index, ids in enumerate(frame(self.tokenizer, texts)):
            if len(ids) > len(encoded[index]):
                kept = encoded[index][1:-1]  # without bos and eos
                results[index].scored_text = self.tokenizer.decode(kept)
