"""Translating sentences: a conditional masked LM decoded by chains or Mask-Predict, or an
encoder-decoder by beam search (the autoregressive reference of issue 14).

CMLM decoding of one batch of sources (`CMLMTranslator.decode`):
1. Length beam: each source's encoder states (computed once, cached by the energy) give
   log p(L | x); the l most probable lengths L >= 1 are its candidates (ties: the shorter first).
   Length 0 is never a candidate: it would translate every sentence to nothing.
2. Warm start: every candidate starts all-[MASK] and is filled by one parallel argmax pass
   (Mask-Predict's iteration 0). `greedy` stops here; `mask-predict` runs its further
   iterations (re-masking the least confident tokens).
3. Chains (`mh`, `gibbs`): each candidate runs its own chain from its warm start for `sweeps`
   sweeps (one sweep = ceil(L / block) steps of that chain, whatever the other chains' lengths),
   the target temperature lowered geometrically from `temperature` to `anneal_to`. All
   candidates of a batch of sources run as one batch of chains.
4. Selection. Chains: the candidate with the lowest E(y | x) / L, E the untempered `--energy` of
   the chain's final state (MH carries it; Gibbs computes it once at the end, L passes). Summed
   energies favour short outputs and raw ones are not comparable across lengths; per token
   mitigates both. Mask-Predict and greedy: the highest mean log-probability of the tokens (each
   at its last prediction), as Mask-Predict's paper. Ties: the more probable length.

Cost (`passes`): sequences through the model, i.e. decoder copies (one masked copy = one) plus
encoder runs; a batch's passes and wall time are shared equally among its sources, so per-line
figures are estimates while their totals and means over lines are exact. Random numbers: one
generator per batch, handed in by the caller (`translate_lines` seeds it from the batch's first
line), so a batch's output depends on the seed, its lines and the settings only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from transformers import AutoConfig

from textebm.data.padding import right_pad
from textebm.energies.base import Condition
from textebm.errors import UsageError
from textebm.samplers.beam import decode_target, translate_beam
from textebm.samplers.driver import geometric_schedule
from textebm.samplers.gibbs import DegenerateGibbs
from textebm.samplers.mask_predict import mask_predict
from textebm.samplers.mh import MetropolisHastings
from textebm.samplers.proposals import Proposal
from textebm.samplers.start import from_lengths
from textebm.samplers.translate_config import CHAIN_DECODERS, CMLM_DECODERS, TranslateConfig


@dataclass
class Translation:
    """One input line's translation and what it took.

    line: the input line, counted from 0; text: the translation (tokens joined as the tokenizer
    decodes them, no clean-up of spacing); length: its target tokens; passes, seconds: its share
    of the work (see the module notes); truncated: the source was cut to the model's positions;
    details: decoder-specific values (energy, mean_log_prob, candidates, acceptance, ...).
    """

    line: int
    text: str
    length: int
    passes: float
    seconds: float
    truncated: bool = False
    details: dict = field(default_factory=dict)

    def record(self, source: str) -> dict:
        """The JSON-ready record of `--records`."""
        return {
            "line": self.line,
            "source": source,
            "text": self.text,
            "length": self.length,
            **self.details,
            "passes": self.passes,
            "seconds": self.seconds,
            "truncated": self.truncated,
        }


def length_beam(length_log_probs: torch.Tensor, size: int) -> torch.Tensor:
    """The `size` most probable target lengths >= 1 of each source, most probable first, ties
    broken towards the shorter length: (batch, min(size, L_max)) int64.

    length_log_probs: (batch, L_max + 1) log p(L | x) for L = 0 .. L_max.
    """
    scores = length_log_probs.float().clone()
    scores[:, 0] = float("-inf")  # length 0: an empty translation, never a candidate
    order = torch.argsort(-scores, dim=1, stable=True)
    return order[:, : min(size, scores.shape[1] - 1)]


def best_candidates(values: torch.Tensor, lower: bool) -> torch.Tensor:
    """(batch,) index of each row's best candidate of (batch, l) `values`: the lowest (energy
    per token) or highest (mean log-probability); ties go to the first (most probable length)."""
    return values.argmin(dim=1) if lower else values.argmax(dim=1)


def check_sources(
    tokenizer, texts: list[str], first_line: int, positions: int, truncate: bool, name: str
) -> tuple[list[list[int]], list[bool]]:
    """Each text as `[CLS] x [SEP]` token ids, and whether it was cut to `positions` tokens.

    Empty or blank lines, and (without `truncate`) lines longer than the model's positions, are
    one-line errors naming the line (counted from 1 in messages, as editors do).
    """
    for offset, text in enumerate(texts):
        if not text.strip():
            raise UsageError(
                f"{name}: line {first_line + offset + 1} is empty; give one sentence per line"
            )
    encoded = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    cut = [len(ids) > positions for ids in encoded]
    if any(cut) and not truncate:
        offset = cut.index(True)
        raise UsageError(
            f"{name}: line {first_line + offset + 1}: {len(encoded[offset])} tokens, more than "
            f"the model's maximum of {positions}; pass --truncate to cut long sentences"
        )
    kept = [
        ids[: positions - 1] + ids[-1:] if long else ids
        for ids, long in zip(encoded, cut, strict=True)
    ]
    return kept, cut


class CMLMTranslator:
    """Decodes batches of sources with a conditional masked LM (see the module notes)."""

    kind = "cmlm"

    def __init__(self, model, tokenizer, config: TranslateConfig) -> None:
        from textebm.energies.conditional import ConditionalMaskedLMEnergy

        check_decoder("cmlm", config)
        self.config, self.tokenizer = config, tokenizer
        self.energy = ConditionalMaskedLMEnergy(
            model, tokenizer, kind=config.energy, batch_tokens=config.batch_tokens
        )
        self.positions = model.config.max_position_embeddings

    def kernel(self) -> MetropolisHastings | DegenerateGibbs:
        """The chain kernel of `--sampler` (as `samplers.api.build_kernel` builds it)."""
        c = self.config
        layout = {"block_size": c.block_size, "scan": c.scan, "layout": c.block_layout}
        if c.sampler == "mh":
            proposal = Proposal(c.proposal_temperature, c.top_k, c.top_p)
            return MetropolisHastings(
                self.energy, temperature=c.temperature, proposal=proposal, **layout
            )
        return DegenerateGibbs(
            self.energy,
            c.temperature,
            c.top_k,
            c.top_p,
            proposal_temperature=c.proposal_temperature,
            **layout,
        )

    def _work(self) -> tuple[int, float]:
        return self.energy.cost.sequences + self.energy.encoder_cost.sequences, time.perf_counter()

    @torch.no_grad()
    def decode(
        self, sources: list[list[int]], texts: list[str], generator: torch.Generator
    ) -> list[Translation]:
        """Translations of `sources` (token ids with [CLS] and [SEP]; `texts` unused), in order;
        `line` unset."""
        config, device = self.config, self.energy.device
        before = self._work()
        ids, mask = right_pad(sources, self.tokenizer.pad_token_id or 0)
        condition = Condition(input_ids=ids, attention_mask=mask).to(device)
        log_probs = self.energy.length_log_probs(condition)
        lengths = length_beam(log_probs, config.length_beam).cpu()
        count, beam = lengths.shape
        owner = torch.arange(count).repeat_interleave(beam)  # candidate -> its source
        flat = lengths.flatten()
        start = from_lengths(self.tokenizer, flat.tolist()).to(device)
        candidates = condition.select(owner)
        iterations = config.iterations if config.sampler == "mask-predict" else 1
        warm = mask_predict(
            self.energy, *start.astuple(), iterations=iterations, condition=candidates
        )
        passes = torch.zeros(len(flat), dtype=torch.float64)
        seconds = torch.zeros(len(flat), dtype=torch.float64)
        _charge(passes, seconds, torch.arange(len(flat)), before, self._work())
        tokens = warm.tokens
        if config.sampler in CHAIN_DECODERS:
            energies, steps, accepted, novel = self._chains(
                tokens, start, candidates, flat, generator, passes, seconds
            )
            per_token = energies / flat.double()
            choice = best_candidates(per_token.view(count, beam), lower=True)
            values = {"energy": energies, "energy_per_token": per_token}
        else:
            mean = warm.confidence.sum(dim=1).cpu().double() / flat.double()
            choice = best_candidates(mean.view(count, beam), lower=False)
            values = {"mean_log_prob": mean}
        out = []
        for source in range(count):
            rows = range(source * beam, source * beam + beam)
            outputs = [self._text(tokens[row], start.free[row]) for row in rows]
            chosen = rows[int(choice[source])]
            info = {name: float(value[chosen]) for name, value in values.items()}
            info["candidates"] = [
                {"length": int(flat[row]), "text": outputs[row - rows.start]}
                | {name: float(value[row]) for name, value in values.items()}
                for row in rows
            ]
            if config.sampler in CHAIN_DECODERS:
                total = float(steps[list(rows)].sum())
                info["acceptance_rate"] = float(accepted[list(rows)].sum()) / total
                info["novel_transition_rate"] = float(novel[list(rows)].sum()) / total
            out.append(
                Translation(
                    line=-1,
                    text=outputs[chosen - rows.start],
                    length=int(flat[chosen]),
                    passes=float(passes[list(rows)].sum()),
                    seconds=float(seconds[list(rows)].sum()),
                    details=info,
                )
            )
        return out

    def _chains(self, tokens, start, candidates, flat, generator, passes, seconds):
        """Run every candidate's chain from its warm start, all as one batch of chains.

        A sweep of chain i is ceil(L_i / block) steps: it takes part in the first that many steps
        of each sweep, its positions hidden from the kernel for the rest (no site picked, no
        pass). Returns (candidates,) final untempered energies, steps, accepted and novel counts.
        A short loop of its own rather than `run_chains`, which takes as many steps per sweep for
        every chain as the longest needs, and whose energy trace after every sweep would double
        degenerate Gibbs' passes (it has no energy to carry)."""
        config = self.config
        kernel = self.kernel()
        schedule = None
        if config.anneal_to is not None:
            schedule = geometric_schedule(config.temperature, config.anneal_to, config.sweeps)
        before = self._work()
        mask, free = start.attention_mask, start.free
        state, _ = kernel.init(tokens, mask, free, generator, condition=candidates)
        block = kernel.block_size
        own = torch.div(free.sum(dim=1) + block - 1, block, rounding_mode="floor")  # steps
        counts = torch.zeros((3, len(flat)), dtype=torch.float64)  # steps, accepted, novel
        for sweep in range(config.sweeps):
            current = kernel if schedule is None else kernel.at_temperature(schedule(sweep))
            for step in range(int(own.max())):
                active = own > step
                state = state.replace(free=free & active.unsqueeze(1))
                state, info = current.step(generator, state)
                counts[1] += (info.accepted & active).cpu().double()
                counts[2] += (info.novel & active).cpu().double()
        counts[0] += config.sweeps * own.cpu().double()
        state = state.replace(free=free)
        energies = kernel.energy_of(state).cpu().double()
        tokens.copy_(state.tokens)
        _charge(passes, seconds, torch.arange(len(flat)), before, self._work())
        return energies, counts[0], counts[1], counts[2]

    def _text(self, tokens: torch.Tensor, free: torch.Tensor) -> str:
        return decode_target(self.tokenizer, tokens[free].tolist())


def _charge(passes, seconds, rows, before, after) -> None:
    """Share a phase's passes and wall time equally among the candidates `rows` it served."""
    passes[rows] += (after[0] - before[0]) / len(rows)
    seconds[rows] += (after[1] - before[1]) / len(rows)


class BeamTranslator:
    """Decodes batches of sources with an encoder-decoder by `translate_beam`."""

    kind = "seq2seq"

    def __init__(self, model, tokenizer, config: TranslateConfig) -> None:
        check_decoder("seq2seq", config)
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.positions = model.config.max_position_embeddings

    def decode(
        self, sources: list[list[int]], texts: list[str], generator: torch.Generator
    ) -> list[Translation]:
        """Translations of `texts` (their token ids `sources` unused: beam search encodes and
        cuts them itself), in order; deterministic, `generator` unused; `line` unset."""
        c = self.config
        result = translate_beam(
            self.model,
            self.tokenizer,
            texts,
            beam=c.beam,
            max_length_ratio=c.max_length_ratio,
            max_length_extra=c.max_length_extra,
            length_penalty=c.length_penalty,
            batch_size=len(texts),
        )
        return [
            Translation(
                line=-1,
                text=text,
                length=len(self.tokenizer(text, add_special_tokens=False)["input_ids"]),
                passes=float(result.sentence_passes[i]) / len(texts),
                seconds=result.sentence_seconds[i],
                details={"beam_score": result.scores[i]},
            )
            for i, text in enumerate(result.texts)
        ]


def check_decoder(kind: str, config: TranslateConfig) -> None:
    """A one-line error when `--sampler` does not decode a model of this kind."""
    if kind == "cmlm" and config.sampler not in CMLM_DECODERS:
        raise UsageError(
            f"--sampler {config.sampler} decodes an encoder-decoder; {config.model} is a "
            f"conditional masked LM: use one of {', '.join(CMLM_DECODERS)}"
        )
    if kind == "seq2seq" and config.sampler != "beam":
        raise UsageError(
            f"--sampler {config.sampler} decodes a conditional masked LM; {config.model} is "
            "an encoder-decoder: use --sampler beam"
        )


def load_translator(config: TranslateConfig, device=None) -> CMLMTranslator | BeamTranslator:
    """The translator of `config.model`, its kind read from the model's config: a CMLM
    (`textebm train cmlm`) or an encoder-decoder (`textebm train seq2seq`)."""
    from textebm.models.cmlm import CMLMConfig, register
    from textebm.models.loading import _check_source, _not_found, load_cmlm, pick_device
    from textebm.models.seq2seq import load_seq2seq

    if config.model is None:
        raise UsageError("pass --model, the folder of a CMLM or an encoder-decoder")
    register()
    _check_source(config.model)
    try:
        settings = AutoConfig.from_pretrained(config.model)
    except (OSError, ValueError, KeyError) as error:
        raise _not_found(config.model, error) from None
    device = device if device is not None else pick_device(config.device)
    if settings.model_type == CMLMConfig.model_type:
        check_decoder("cmlm", config)  # before loading: the error should not wait on weights
        return CMLMTranslator(*load_cmlm(config.model, device=device), config)
    if getattr(settings, "is_encoder_decoder", False):
        check_decoder("seq2seq", config)
        return BeamTranslator(*load_seq2seq(config.model, device=device), config)
    raise UsageError(
        f"model {config.model!r} is a {settings.model_type!r} model; translate needs a "
        "conditional masked LM (`textebm train cmlm`) or an encoder-decoder (`train seq2seq`)"
    )
