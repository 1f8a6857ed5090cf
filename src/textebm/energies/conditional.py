"""Energies of a target sentence given a source: a conditional masked LM's `norm` and `raw`.

For a target y (BERT-wrapped, `[CLS] y [SEP]`) and a source x, with y_{\\t} the target with
position t replaced by [MASK] and f(y_{\\t}, x)_t the CMLM decoder's logits at t:

    norm:  E(y | x) = -sum_t log softmax(f(y_{\\t}, x)_t)[y_t]   (conditional pseudo-NLL)
    raw:   E(y | x) = -sum_t f(y_{\\t}, x)_t[y_t]

over the target's scored positions (every real token but the structural specials), divided by
the temperature: the masked-LM energies of `energies.masked_lm` with the source as the condition
(`Condition(input_ids=source ids, attention_mask=...)`, one row per target). The length
predictor is not part of E; a decoder that compares lengths adds -log p(length | x) itself.

The source is encoded once: `ConditionalMaskedLMEnergy` keeps each source sentence's encoder
states, keyed by its token ids, and every later pass that is conditioned on the same sentence (a
chain's T masked copies, every step of every sweep, every chain of a length beam) reuses them.
So the encoder runs once per distinct source, whatever a sampler does; `encoder_cost` counts
those runs. The cache assumes frozen weights (scoring, sampling); `clear_cache()` after a change.

MH, degenerate Gibbs and Mask-Predict run on this energy unchanged: the chain's `condition` is
handed to the energy and, since the energy says it is `conditional`, to its proposals too
(`samplers.proposals.masked_conditionals`), so both see the source.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.base import Condition, Cost
from textebm.energies.masked_lm import MaskedLMEnergy

# Encoded source: states (batch, S, hidden), source mask (batch, S), length states (batch, hidden).
Encoded = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ConditionalMaskedLMEnergy(MaskedLMEnergy):
    """E(target | source) of a conditional masked LM (`models.cmlm.CMLMModel`, or any model with
    its `encode` / `decode` methods), `norm` or `raw`; every `MaskedLMEnergy` option applies.

    A call needs `condition=Condition(input_ids=..., attention_mask=...)`, one source row per
    target row (token ids of the same joint tokenizer, right-padded).
    cache_size: source sentences whose encoder states are kept (least recently used dropped).
    """

    conditional = True

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        kind: str = "norm",
        whole_word: bool = False,
        temperature: float = 1.0,
        batch_tokens: int = 8192,
        max_padding: float = 0.05,
        cache_size: int = 4096,
    ) -> None:
        for method in ("encode", "decode", "predict_length"):
            if not callable(getattr(model, method, None)):
                raise ValueError(
                    f"{type(model).__name__} has no {method}(): not a conditional masked LM"
                )
        if cache_size < 1:
            raise ValueError(f"cache_size must be positive, not {cache_size}")
        super().__init__(
            model,
            tokenizer,
            kind=kind,
            whole_word=whole_word,
            temperature=temperature,
            batch_tokens=batch_tokens,
            max_padding=max_padding,
        )
        self.cache_size = cache_size
        self.encoder_cost = Cost()
        self._sources: OrderedDict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = (
            OrderedDict()
        )

    def clear_cache(self) -> None:
        """Forget every source's encoder states (after the model's weights change)."""
        self._sources.clear()

    @torch.no_grad()
    def encoded(self, condition: Condition) -> Encoded:
        """The sources' encoder states, from the cache where it has them; the others are encoded
        together in one call and cached.

        Returns states (batch, S, hidden), source mask (batch, S) int64 and length states
        (batch, hidden), S the longest source of the batch (right-padded with zeros).
        """
        if condition.input_ids is None:
            raise ValueError("a conditional masked LM needs the source: Condition(input_ids=...)")
        ids = condition.input_ids
        mask = condition.attention_mask
        if mask is None:
            mask = torch.ones_like(ids)
        keys = [
            tuple(row[keep.bool()].tolist())
            for row, keep in zip(ids.cpu(), mask.cpu(), strict=True)
        ]
        if any(len(key) == 0 for key in keys):
            raise ValueError("a source sentence has no tokens")
        missing = list(dict.fromkeys(key for key in keys if key not in self._sources))
        found = {key: self._sources[key] for key in keys if key in self._sources}
        if missing:
            found.update(self._encode(missing))
        for key in dict.fromkeys(keys):  # most recently used last; drop the oldest beyond the cap
            self._sources[key] = found[key]
            self._sources.move_to_end(key)
        while len(self._sources) > self.cache_size:
            self._sources.popitem(last=False)
        width = max(len(key) for key in keys)
        states = torch.zeros(
            (len(keys), width, found[keys[0]][0].shape[-1]),
            dtype=found[keys[0]][0].dtype,
            device=self.device,
        )
        for index, key in enumerate(keys):
            states[index, : len(key)] = found[key][0]
        source_mask, _ = right_pad([[1] * len(key) for key in keys], 0)
        lengths = torch.stack([found[key][1] for key in keys])
        return states, source_mask.to(self.device), lengths

    def _encode(
        self, sources: list[tuple[int, ...]]
    ) -> dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]]:
        pad = self.tokenizer.pad_token_id or 0
        ids, mask = right_pad([list(key) for key in sources], pad)
        ids, mask = ids.to(self.device), mask.to(self.device)
        output = self.model.encode(ids, mask)
        self.encoder_cost.add(sequences=len(sources), tokens=ids.numel())
        return {
            key: (output.last_hidden_state[i, : len(key)].clone(), output.length_state[i].clone())
            for i, key in enumerate(sources)
        }

    @torch.no_grad()
    def length_log_probs(self, condition: Condition) -> torch.Tensor:
        """log p(target length = L | source), L = 0 .. max_target_length: (batch, L_max + 1),
        from the cached encoding (content tokens: [CLS] and [SEP] not counted)."""
        length_states = self.encoded(condition)[2]
        logits = self.model.length_head(length_states)
        return torch.log_softmax(logits.float(), dim=-1)

    def _context(self, condition: Condition | None, batch: int) -> Encoded:
        if condition is None:
            raise ValueError(
                "the conditional masked-LM energy scores a target given its source: pass "
                "condition=Condition(input_ids=source ids, attention_mask=...)"
            )
        if len(condition) != batch:
            raise ValueError(f"the condition has {len(condition)} rows for {batch} targets")
        return self.encoded(condition.to(self.device))

    def _logits(
        self, copies: torch.Tensor, attention_mask: torch.Tensor, row: torch.Tensor, context
    ) -> torch.Tensor:
        states, source_mask, _ = context
        return self.model.decode(copies, attention_mask, states[row], source_mask[row])

    @torch.no_grad()
    def decode_copies(
        self, copies: torch.Tensor, attention_mask: torch.Tensor, condition: Condition | None
    ) -> torch.Tensor:
        """Logits (n, T, vocab) of (masked) targets `copies` (n, T), row i given condition row i:
        what proposals (`masked_conditionals`) run in place of `model(input_ids=...)`."""
        copies = copies.to(self.device)
        context = self._context(condition, len(copies))
        return self._logits(
            copies, attention_mask.to(self.device), torch.arange(len(copies)), context
        )

    def score_pairs(
        self, sources: list[str], targets: list[str], truncate: bool = False
    ) -> list[float]:
        """Energies E(target_i | source_i) of text pairs, in order (untempered / temperature)."""
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} sources for {len(targets)} targets")
        pad = self.tokenizer.pad_token_id or 0
        encoded = self.encode(targets, truncate=truncate)
        source_ids = self.tokenizer(
            sources, add_special_tokens=True, truncation=True, max_length=self.max_length
        )["input_ids"]
        energies = []
        chunk = max(1, self.batch_tokens // (self.max_length * 4))
        for start in range(0, len(targets), chunk):
            part = slice(start, start + chunk)
            ids, mask = right_pad([item["input_ids"] for item in encoded[part]], pad)
            words, _ = right_pad([item["word_ids"] for item in encoded[part]], -1)
            source, source_mask = right_pad(source_ids[part], pad)
            condition = Condition(input_ids=source, attention_mask=source_mask)
            output = self(ids, mask, word_ids=words, condition=condition)
            energies.extend(output.energy.tolist())
        return energies
