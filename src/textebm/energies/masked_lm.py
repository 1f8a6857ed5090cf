"""Energies of a masked language model: pseudo-log-likelihood (`norm`) and raw logits (`raw`).

For a sequence x with scored positions t (every real token, [UNK] included; structural special
tokens such as [CLS], [SEP], [MASK] and padding are only context), with x_{\\t} the sequence with
position t replaced by the mask token:

    norm:  E(x) = -sum_t log softmax(f(x_{\\t})_t)[x_t]      (negative pseudo-log-likelihood)
    raw:   E(x) = -sum_t f(x_{\\t})_t[x_t]                   (Goyal et al. 2022, no normalisation)

both divided by the temperature. With `whole_word=True`, the copy that scores a sub-word also masks
the later sub-words of the same word ("within_word_l2r", Kauf & Ivanova 2023).

Speed comes from three things: every masked copy of every sequence in a call goes through the model
together, packed into chunks of similar length under a token budget (so memory is bounded by the
budget, not by the longest sequence); each copy is cut to its own sequence's length (no padding to
the batch's longest); and the output layer, vocabulary-sized, runs only at the masked position.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.padding import right_pad
from textebm.energies.base import Condition, Conditionals, Cost, EnergyOutput
from textebm.energies.records import grouped_records, mark_truncated, scored_records
from textebm.models.output_rows import KeepRows

KINDS = ("norm", "raw")


def model_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest sequence, special tokens included, that the model accepts."""
    limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    # Tokenizers without a limit report a huge sentinel (int(1e30)); ignore it.
    return min(limit for limit in limits if limit is not None and limit < 1_000_000)


def context_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Sorted ids that are only ever context: the special tokens, except [UNK].

    [UNK] stands in for a word of the text, so it is scored (and, in training, masked, as in BERT's
    pre-training) like any token; leaving it out would give a text with an unknown word fewer
    terms than it has words. It stays context only where its id doubles as a structural token.
    """
    context = set(tokenizer.all_special_ids)
    unk = tokenizer.unk_token_id
    structural = {
        getattr(tokenizer, f"{name}_token_id", None)
        for name in ("cls", "sep", "pad", "mask", "bos", "eos")
    }
    if unk is not None and unk not in structural:
        context.discard(unk)
    return sorted(context)


def pack_by_budget(
    lengths: list[int], batch_tokens: int, max_padding: float = 0.05
) -> Iterator[slice]:
    """Cut lengths sorted ascending into consecutive runs that each make one forward pass.

    A run grows while count x max length stays within `batch_tokens` and padding stays within
    `max_padding` of the run's token slots: padded slots cost as much compute as real ones, and
    splitting a run only costs a call. A run holds at least one item, so a sequence longer than
    the budget still goes through, alone.
    """
    start = 0
    while start < len(lengths):
        end, real = start + 1, lengths[start]
        while end < len(lengths):
            slots = (end + 1 - start) * lengths[end]
            if slots > batch_tokens or slots - (real + lengths[end]) > max_padding * slots:
                break
            real += lengths[end]
            end += 1
        yield slice(start, end)
        start = end


def per_token_terms(kind: str, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Untempered energy terms (n,) float32 of `tokens` (n,) int64 given their masked-copy
    logits (n, vocab): `norm` -log softmax(logits)[token], `raw` -logits[token].

    The one place this arithmetic lives: the energy scores with it, and a sampler that reuses
    cached conditionals recomputes terms with it, so both agree to the last bit.
    """
    logits = logits.float()
    picked = logits.gather(1, tokens.unsqueeze(1)).squeeze(1)
    if kind == "norm":
        return torch.logsumexp(logits, dim=1) - picked
    if kind == "raw":
        return -picked
    raise ValueError(f"no per-token terms for energy kind {kind!r}")


@dataclass
class ScoredText:
    """One text's energy: total, and per scored token (structural special tokens excluded).

    n_unk: how many of the scored tokens are the tokenizer's unknown token ([UNK]).
    scored_text: the text of the tokens that were scored, when `truncate` cut the text short.
    """

    text: str
    energy: float
    tokens: list[str]
    token_energies: list[float]
    n_unk: int
    scored_text: str | None = None  # set when the text was cut to the model's maximum length

    @property
    def truncated(self) -> bool:
        return self.scored_text is not None

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


class SequenceError(ValueError):
    """A text the energy cannot score: `index` is its 0-based position in the input."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def check_settings(temperature: float, batch_tokens: int) -> None:
    """The options every energy shares: a positive temperature and token budget."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    if batch_tokens < 1:
        raise ValueError(f"batch_tokens must be positive, not {batch_tokens}")


def encode_checked(
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    truncate: bool,
    max_length: int,
    context: set[int],
):
    """The tokenizer's encoding of `texts` (special tokens added, cut to `max_length` if
    `truncate`), every text checked: SequenceError for one longer than `max_length` or with no
    token outside `context` to score."""
    encoding = tokenizer(texts, add_special_tokens=True, truncation=truncate, max_length=max_length)
    for index, ids in enumerate(encoding["input_ids"]):
        if len(ids) > max_length:
            raise SequenceError(
                index, f"{len(ids)} tokens, more than the model's maximum of {max_length}"
            )
        if all(token in context for token in ids):
            raise SequenceError(index, "no tokens to score")
    return encoding


class MaskedLMEnergy:
    """Energy of a Hugging Face masked LM (`AutoModelForMaskedLM`).

    kind: "norm" (negative pseudo-log-likelihood) or "raw" (negative summed raw logits).
    whole_word: also mask the later sub-words of the scored token's word (needs `word_ids`, so a
        fast tokenizer: a slow one cannot report word boundaries).
    temperature: energies are divided by it.
    batch_tokens: token budget of one forward pass (copies x padded length).
    max_padding: largest fraction of a pass's token slots that may be padding.
    compile: run the forward pass through `torch.compile` (dynamic shapes, so the varying copy
        counts and lengths share one compiled graph), fusing the elementwise work between the
        matrix products. Opt-in and experimental: on the 2-core CPU of
        benchmarks/RESULTS-score.md the compiled path ran at 0.3x to 0.7x the eager one's speed (the
        dynamic-shape kernels lose more than fusion gains), so the command line does not offer
        it; try it on a GPU. Scores equal the eager ones to float rounding.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        kind: str = "norm",
        whole_word: bool = False,
        temperature: float = 1.0,
        batch_tokens: int = 8192,
        max_padding: float = 0.05,
        compile: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        check_settings(temperature, batch_tokens)
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token: not a masked language model")
        if whole_word and not tokenizer.is_fast:
            # Without word_ids every token would count as its own word: plain masking, silently.
            raise ValueError(
                f"whole-word masking needs word boundaries, which {type(tokenizer).__name__} (a "
                "slow tokenizer) cannot report; use a fast tokenizer or drop whole-word masking"
            )
        self.model, self.tokenizer = model, tokenizer
        self.kind, self.whole_word = kind, whole_word
        self.temperature, self.batch_tokens = temperature, batch_tokens
        self.max_padding = max_padding
        self.mask_id = tokenizer.mask_token_id
        self.max_length = model_max_length(model, tokenizer)
        self.cost = Cost()
        self.head = model.get_output_embeddings()
        if self.head is None:
            raise ValueError(f"{type(model).__name__} exposes no output layer to score with")
        # One hook object for every call: the output layer then runs only at each copy's masked
        # position. The compiled wrapper shares the model's parameters and calls the same output
        # layer, so the hook (registered per call on `head`) works on both paths.
        self._keep = KeepRows()
        self._forward = torch.compile(model, dynamic=True) if compile else model
        device = next(model.parameters()).device
        self._context_ids = torch.tensor(context_token_ids(tokenizer), device=device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def scorable(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, length) bool: real tokens that are not structural ([UNK] is scored)."""
        return attention_mask.bool() & ~torch.isin(input_ids, self._context_ids)

    @torch.no_grad()
    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        word_ids: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        return_conditionals: bool = False,
        condition: Condition | None = None,
    ) -> EnergyOutput:
        """Energies of a batch; one masked copy per scored position, all in as few passes as fit.

        input_ids: (batch, length) int64, right-padded.
        attention_mask: (batch, length), 1 for real tokens; all ones if omitted.
        word_ids: (batch, length) int64 word index of each token, -1 for special tokens; needed
            for whole-word masking.
        positions: (batch, length) bool, score only these positions (e.g. a sampler that has the
            others cached); `energy` then sums only them.
        return_conditionals: also return each copy's output-layer input (see `Conditionals`).
        condition: must be None: a masked LM is unconditional, and ignoring a condition would
            score (and sample) the wrong distribution without a word.
        """
        context = self._context(condition, len(input_ids))
        input_ids = input_ids.to(self.device)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.to(self.device)
        scored = self.scorable(input_ids, attention_mask)
        if positions is not None:
            scored &= positions.to(self.device)
        if self.whole_word:
            if word_ids is None:
                raise ValueError("whole_word=True needs word_ids")
            word_ids = word_ids.to(self.device)

        rows, cols = scored.nonzero(as_tuple=True)  # one masked copy per (row, col)
        copy_lengths = attention_mask.sum(dim=1)[rows]
        order = torch.argsort(copy_lengths, stable=True)
        token_energies = torch.zeros(input_ids.shape, dtype=torch.float32, device=self.device)
        hidden = None
        if return_conditionals:
            hidden = torch.zeros(
                (*input_ids.shape, self.head.in_features),
                dtype=self.head.weight.dtype,
                device=self.device,
            )
        for run in pack_by_budget(
            copy_lengths[order].tolist(), self.batch_tokens, self.max_padding
        ):
            index = order[run]
            row, col = rows[index], cols[index]
            terms, run_hidden = self._score_copies(
                input_ids, attention_mask, word_ids, row, col, context
            )
            token_energies[row, col] = terms
            if hidden is not None:
                hidden[row, col] = run_hidden
        token_energies /= self.temperature
        conditionals = None
        if hidden is not None:
            conditionals = Conditionals(hidden=hidden, computed=scored, head=self.head)
        return EnergyOutput(
            energy=token_energies.sum(dim=1),
            token_energies=token_energies,
            scored=scored,
            conditionals=conditionals,
        )

    def _score_copies(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_ids: torch.Tensor | None,
        row: torch.Tensor,
        col: torch.Tensor,
        context: object = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Untempered energy terms (n,) and output-layer inputs (n, hidden) of n masked copies
        (copy i: sequence row[i] with col[i] masked); `context` is `_context`'s, per sequence."""
        length = int(attention_mask[row].sum(dim=1).max())
        copies = input_ids[row, :length].clone()
        arange = torch.arange(len(row), device=self.device)
        copies[arange, col] = self.mask_id
        if self.whole_word:
            words = word_ids[row, :length]
            word = words[arange, col].unsqueeze(1)
            later = torch.arange(length, device=self.device).unsqueeze(0) > col.unsqueeze(1)
            copies[(words == word) & (word >= 0) & later] = self.mask_id
        with self._keep.on(self.head, (arange, col)) as keep:
            logits = self._logits(copies, attention_mask[row, :length], row, context)
        if logits.shape != (len(row), self.head.out_features):
            raise RuntimeError(
                f"{type(self.model).__name__} reshapes its output layer's result; unsupported"
            )
        self.cost.add(sequences=len(row), tokens=len(row) * length)
        return per_token_terms(self.kind, logits, input_ids[row, col]), keep.hidden

    def _context(self, condition: Condition | None, batch: int) -> object:
        """What the passes need beside the tokens, from the condition: nothing here. A masked LM
        is unconditional, and ignoring a condition would score (and sample) the wrong
        distribution without a word, so one is refused. Conditional subclasses override this."""
        if condition is not None:
            raise ValueError(
                "the masked-LM energy is unconditional: pass condition=None, or use a "
                "conditional energy"
            )
        return None

    def _logits(
        self, copies: torch.Tensor, attention_mask: torch.Tensor, row: torch.Tensor, context
    ) -> torch.Tensor:
        """The model's logits for masked copies (n, length) of sequences `row` (the output layer
        restricted by the caller's hook)."""
        return self._forward(input_ids=copies, attention_mask=attention_mask).logits

    def encode(self, texts: list[str], truncate: bool = False) -> list[dict[str, list[int]]]:
        """Tokenise texts (special tokens added) into `input_ids` and `word_ids` lists.

        Raises SequenceError for a text with no token to score, or longer than the model's
        maximum length (unless `truncate`, which cuts it to that length).
        """
        context = set(self._context_ids.tolist())
        encoding = encode_checked(self.tokenizer, texts, truncate, self.max_length, context)
        encoded = []
        for index, ids in enumerate(encoding["input_ids"]):
            words = encoding.word_ids(index) if encoding.is_fast else [None] * len(ids)
            encoded.append({"input_ids": ids, "word_ids": [-1 if w is None else w for w in words]})
        return encoded

    def score_texts(
        self, texts: list[str], truncate: bool = False, progress: bool = False
    ) -> list[ScoredText]:
        """Score many texts, in input order, whatever their number and lengths.

        Texts are sorted by length and handed to the model in groups of about 16 token budgets,
        so that copies of similar length share passes and memory stays bounded.
        """
        encoded = self.encode(texts, truncate=truncate)
        lengths = [len(item["input_ids"]) for item in encoded]
        work = [length * length for length in lengths]  # about length copies of length tokens
        records = grouped_records(
            encoded, work, 16 * self.batch_tokens, self._score_group, progress
        )
        results = [ScoredText(text, *record) for text, record in zip(texts, records, strict=True)]
        if truncate:
            mark_truncated(self.tokenizer, texts, results, lengths)
        return results

    def _score_group(self, encoded: list[dict[str, list[int]]]) -> list[tuple]:
        pad = self.tokenizer.pad_token_id or 0
        input_ids, attention_mask = right_pad([item["input_ids"] for item in encoded], pad)
        word_ids, _ = right_pad([item["word_ids"] for item in encoded], -1)
        output = self(input_ids, attention_mask, word_ids=word_ids)
        return scored_records(self.tokenizer, input_ids, output)
