"""Noise from the rewrite model (`textebm train noise-lm`): `generate-noise --method rewrite`.

For each training example and each of its K copies, each side is masked afresh (each token with
probability `mask_fraction`, runs merged: `textebm.data.rewrite`) and the model writes a full text
after the masked prompt, top-k sampled (the paper: k = 20) with `textebm.samplers.generate`. The
sides of a pair are rewritten separately, each from its own prompt, and stay paired.

Special tokens other than eos and unk are never drawn. A rewrite that ends at once (eos first, so a
blank text, which the noise reader refuses) keeps the original side instead; how many did is
returned, for the file's header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from textebm.data.labelled import LabelledExample
from textebm.data.noise import NoiseExample
from textebm.data.rewrite import longest_text, rewrite_prompt
from textebm.energies.causal_lm import causal_specials
from textebm.errors import UsageError
from textebm.samplers.generate import generate
from textebm.samplers.proposals import banned_tokens

if TYPE_CHECKING:
    from textebm.samplers.noise_config import NoiseConfig


def rewrite_noise(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[LabelledExample],
    config: NoiseConfig,
    progress: bool = False,
) -> tuple[list[NoiseExample], int]:
    """K = config.ratio noise texts per example (its K copies together), and the number of
    blank rewrites replaced by the original text.

    Uses config's ratio, seed, mask_fraction (the masking probability), top_k (None: 20),
    temperature, batch_size (sides per generation call) and max_length.
    """
    from textebm.samplers.noise_config import default_top_k

    if tokenizer.mask_token_id is None:
        raise UsageError(
            "the rewrite model's tokenizer has no mask token: train it with train noise-lm"
        )
    bos, eos = causal_specials(tokenizer)
    limit = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    if config.max_length is not None:
        limit = min(limit, config.max_length)
    longest = longest_text(limit)
    pairs = examples[0].text_pair is not None
    sides = [
        text
        for example in examples
        for _ in range(config.ratio)
        for text in ((example.text, example.text_pair) if pairs else (example.text,))
    ]
    # A drawn [MASK], [PAD] or [CLS] would decode to its literal text ("[MASK]"), which the
    # classifier re-reads as the special token: noise any energy could tell from data at once.
    # eos ends a rewrite; [UNK] stands for what the vocabulary lacks in data too, so it stays.
    banned = banned_tokens(tokenizer, model.get_output_embeddings().out_features, "cpu")
    banned[[i for i in (eos, tokenizer.unk_token_id) if i is not None]] = False
    banned_ids = banned.nonzero().flatten().tolist()
    generator = torch.Generator().manual_seed(config.seed)
    top_k = default_top_k(config)
    starts = range(0, len(sides), config.batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="noise", unit="batch")
    written, blank = [], 0
    for start in starts:
        batch = sides[start : start + config.batch_size]
        ids = [row[:longest] for row in tokenizer(batch, add_special_tokens=False)["input_ids"]]
        prompts = [
            rewrite_prompt(row, bos, eos, tokenizer.mask_token_id, config.mask_fraction, generator)
            for row in ids
        ]
        # A rewrite about as long as its text, with slack; never past the model's positions.
        room = limit - max(len(p) for p in prompts)
        generation = generate(
            model,
            prompts,
            generator,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id,
            max_new_tokens=max(1, min(room, 2 * max(len(row) for row in ids) + 2)),
            temperature=config.temperature,
            top_k=top_k or None,
            banned_token_ids=banned_ids,
        )
        for original, new in zip(batch, generation.token_lists(), strict=True):
            text = tokenizer.decode(new)
            blank += not text.strip()
            written.append(text if text.strip() else original)
    if pairs:
        return [NoiseExample(a, b) for a, b in zip(written[::2], written[1::2], strict=True)], blank
    return [NoiseExample(text) for text in written], blank
