"""Noise that looks like the data, for the joint-EBM classifier recipe: `textebm generate-noise`,
or `generate_noise(NoiseConfig(...))`. Two methods: `mlm-fill` (below) and `rewrite`, the paper's
noise model (`textebm.samplers.rewrite_noise`, trained by `textebm train noise-lm`).

Method `mlm-fill` (the simpler alternative of He et al. 2021; their code keeps a RoBERTa-MLM
sampler, top-k 10, unused): for each training example and each of its K noise copies, mask a
fixed fraction (default 40%) of the text's tokens, chosen uniformly without replacement, and
fill the masked positions from a masked LM's conditionals, tempered and top-k truncated, drawn
with one seeded `torch.Generator`. A sentence pair is encoded as the pair, so the filler sees
both sides, and each side is masked at the fraction on its own (a short side is not left
untouched because the long one took the masks); the two sides are decoded separately, so the
noise keeps the pairing.

fill "parallel" draws every masked position from one pass over the masked copy (the conditionals
of `masked_conditionals`: one forward pass per noise text, what large noise sets need);
"sequential" fills one position per pass, each given the positions filled before it
(`fill_masks`: more coherent, about 0.4 x length passes per text).

Why here and not in `data/`: this samples from a model through the proposal machinery, so it
sits with the samplers; `data.noise` (the file format) stays below it and is the only writer.
The same config, seed and batch size give the same file; another batch size draws differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import torch

from textebm.data.labelled import LabelledExample
from textebm.data.noise import NoiseExample
from textebm.data.padding import right_pad
from textebm.errors import UsageError
from textebm.samplers.noise_config import NoiseConfig, default_top_k
from textebm.samplers.proposals import (
    Proposal,
    ProposalSource,
    banned_tokens,
    fill_masks,
    masked_conditionals,
    sample,
)


def choose_masks(
    segments: torch.Tensor, fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Which positions to mask: in each row and each segment, round(fraction x n) of its n
    positions (at least one where n > 0), uniformly without replacement.

    segments: (batch, length) int64, the side (0 or 1) of each maskable token, -1 elsewhere
    (special tokens, padding). Returns (batch, length) bool.
    """
    keys = torch.rand(segments.shape, generator=generator, device=segments.device)
    mask = torch.zeros_like(segments, dtype=torch.bool)
    for side in (0, 1):
        here = segments == side
        n = here.sum(dim=1, keepdim=True)
        wanted = torch.floor(fraction * n + 0.5).long().clamp(min=1).minimum(n)
        # Rank the side's positions by a uniform key (the rest last): the lowest `wanted` ranks
        # are a uniform subset of that size.
        rank = keys.masked_fill(~here, 2.0).argsort(dim=1).argsort(dim=1)
        mask |= here & (rank < wanted)
    return mask


@torch.no_grad()
def mask_and_fill(
    source: ProposalSource,
    proposal: Proposal,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor,
    segments: torch.Tensor,
    fraction: float,
    generator: torch.Generator,
    sequential: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask `fraction` of each row's tokens per segment (`choose_masks`) and refill them.

    tokens, attention_mask, segments: (batch, length) int64. Returns the filled tokens and the
    mask, both (batch, length); outside the mask the tokens are unchanged.
    """
    mask = choose_masks(segments, fraction, generator)
    banned = banned_tokens(source.tokenizer, source.head.out_features, tokens.device)
    if sequential:
        masked = tokens.masked_fill(mask, source.mask_id)
        filled, _ = fill_masks(source, proposal, banned, masked, attention_mask, mask, generator)
        return filled, mask
    conditionals = masked_conditionals(source, tokens, attention_mask, mask)
    row, col = mask.nonzero(as_tuple=True)
    filled = tokens.clone()
    filled[row, col] = sample(proposal.log_probs(conditionals.logits(row, col), banned), generator)
    return filled, mask


def mlm_fill_noise(
    source: ProposalSource,
    examples: Sequence[LabelledExample],
    config: NoiseConfig,
    max_length: int,
    progress: bool = False,
) -> list[NoiseExample]:
    """K = config.ratio noise texts per example, in example order (its K copies together).

    source: a masked-LM energy (`MaskedLMEnergy`) whose tokenizer is fast (pairs are split back
    into their sides by the tokenizer's sequence ids). Texts are cut to `max_length` tokens,
    special tokens included.
    """
    tokenizer = source.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError("mlm-fill noise needs a fast tokenizer (to split pairs into sides)")
    pairs = examples[0].text_pair is not None
    rows = [example for example in examples for _ in range(config.ratio)]
    generator = torch.Generator(device=source.device).manual_seed(config.seed)
    proposal = Proposal(temperature=config.temperature, top_k=default_top_k(config))
    starts = range(0, len(rows), config.batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="noise", unit="batch")
    noise = []
    for start in starts:
        batch = rows[start : start + config.batch_size]
        encoded = tokenizer(
            [r.text for r in batch],
            [r.text_pair for r in batch] if pairs else None,
            truncation=True,
            max_length=max_length,
        )
        sides = [
            [-1 if s is None else s for s in encoded.sequence_ids(i)] for i in range(len(batch))
        ]
        tokens, attention = right_pad(encoded["input_ids"], tokenizer.pad_token_id or 0)
        segments, _ = right_pad(sides, -1)
        device = source.device
        filled, _ = mask_and_fill(
            source,
            proposal,
            tokens.to(device),
            attention.to(device),
            segments.to(device),
            config.mask_fraction,
            generator,
            sequential=config.fill == "sequential",
        )
        filled, segments = filled.cpu(), segments
        for i, original in enumerate(batch):
            text = _side(tokenizer, filled[i], segments[i], 0, original.text)
            pair = (
                _side(tokenizer, filled[i], segments[i], 1, original.text_pair) if pairs else None
            )
            noise.append(NoiseExample(text, pair))
    return noise


def _side(tokenizer, tokens: torch.Tensor, segments: torch.Tensor, side: int, original: str) -> str:
    """The text of one side of a filled row. A side that truncation emptied, or whose decoding is
    blank, keeps its original text: the noise reader refuses empty texts."""
    text = tokenizer.decode(tokens[segments == side].tolist())
    return text if text.strip() else original


def generate_noise(config: NoiseConfig, output: str, progress: bool = False) -> int:
    """Read `config.train` (or `config.dataset`'s `config.split`), make its noise, write it to
    `output` with its provenance header (`textebm.data.noise.write_noise`); return the number of
    noise texts written."""
    from textebm.data.labelled import parse_label_names, read_labelled_from
    from textebm.data.noise import task_fingerprint, tokenizer_fingerprint, write_noise
    from textebm.energies.masked_lm import MaskedLMEnergy, model_max_length
    from textebm.models.loading import load_masked_lm

    if config.model is None:
        raise UsageError("generate-noise needs a model (--method's): pass --model DIR")
    if (config.train is None) == (config.dataset is None):
        raise UsageError(
            "generate-noise imitates training data: pass one of --train FILE and --dataset NAME"
        )
    examples = read_labelled_from(
        config.train,
        config.dataset,
        config.split,
        text_column=config.text_column,
        label_column=config.label_column,
        text_pair_column=config.text_pair_column,
        label_names=parse_label_names(config.labels),
    )
    _check_model_kind(config)
    about = {k: v for k, v in asdict(config).items() if k not in ("device",)}
    about["top_k"] = default_top_k(config)  # the k actually used, not None
    if config.method == "rewrite":
        from textebm.models.loading import load_causal_lm
        from textebm.samplers.rewrite_noise import rewrite_noise

        model, tokenizer = load_causal_lm(config.model, device=config.device)
        target = _target_tokenizer(config, tokenizer)
        noise, about["blank_rewrites_kept_original"] = rewrite_noise(
            model, tokenizer, examples, config, progress=progress
        )
    else:
        model, tokenizer = load_masked_lm(config.model, device=config.device)
        target = _target_tokenizer(config, tokenizer)
        limit = model_max_length(model, tokenizer)
        max_length = limit if config.max_length is None else min(config.max_length, limit)
        source = MaskedLMEnergy(model, tokenizer)
        noise = mlm_fill_noise(source, examples, config, max_length, progress=progress)
    return write_noise(
        output,
        noise,
        task=task_fingerprint(examples),
        tokenizer=tokenizer_fingerprint(target),
        noise_model=about,
    )


def _check_model_kind(config: NoiseConfig) -> None:
    """Refuse a model of the other method's kind before it loads: a BERT masked LM would load as
    a causal LM (BertLMHeadModel) and "rewrite" garbage, and a causal LM cannot fill masks."""
    from textebm.models.loading import language_model_kind

    kind = language_model_kind(config.model)
    if config.method == "rewrite" and kind == "masked":
        raise UsageError(
            f"--model {config.model} is a masked LM, not a rewrite model: --method rewrite needs "
            "a causal LM trained with `textebm train noise-lm` (or use --method mlm-fill)"
        )
    if config.method == "mlm-fill" and kind == "causal":
        raise UsageError(
            f"--model {config.model} is a causal LM, not a masked LM: --method mlm-fill fills "
            "masks from a masked LM (for a model of `textebm train noise-lm`, --method rewrite)"
        )


def _target_tokenizer(config: NoiseConfig, tokenizer):
    """The tokenizer the file is fingerprinted for: --tokenizer's, which must share the model's
    vocabulary, or the model's own."""
    from textebm.models.loading import load_tokenizer

    if config.tokenizer is None:
        return tokenizer
    target = load_tokenizer(config.tokenizer)
    if target.get_vocab() != tokenizer.get_vocab():
        raise UsageError(
            f"--tokenizer {config.tokenizer} has another vocabulary than --model {config.model}: "
            "the noise would be written in tokens the classifier reads differently"
        )
    return target
