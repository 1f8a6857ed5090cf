"""The objective-specific parts: BERT masking, causal-LM blocks, losses."""

from __future__ import annotations

import torch

from textebm.data.tokenizers import train_tokenizer
from textebm.recipes.clm import CausalLM
from textebm.recipes.config import ClmConfig, MlmConfig
from textebm.recipes.mlm import MaskedLM
from textebm.recipes.objective import Models

REQUIRED = dict(corpus="c.txt", tokenizer="tok", output="out")
LINES = ["the cat sat", "a dog ran on the mat", "the bird sang"]


def test_bert_masking_rates_and_never_special_tokens():
    tokenizer = train_tokenizer(LINES, kind="wordlevel")
    objective = MaskedLM(MlmConfig(**REQUIRED, context_length=6))
    objective.check_tokenizer(tokenizer)
    examples = objective.examples([LINES * 2000], tokenizer, objective.config, train=True)
    # A line longer than the context is cut into pieces, each wrapped in [CLS] ... [SEP].
    assert examples[1:3] == [
        tokenizer("a dog ran on")["input_ids"],
        tokenizer("the mat")["input_ids"],
    ]
    original = objective.batch(
        examples, list(range(len(examples))), torch.Generator().manual_seed(0)
    ).inputs
    fresh = torch.nn.utils.rnn.pad_sequence(
        [torch.tensor(e) for e in examples], batch_first=True, padding_value=0
    )
    labels, ids = original["labels"], original["input_ids"]
    chosen = labels != -100
    ordinary = original["attention_mask"].bool() & (fresh > 4)
    assert not (chosen & ~ordinary).any()  # never [CLS], [SEP], padding
    assert abs(chosen.sum() / ordinary.sum() - 0.15) < 0.01
    assert torch.equal(labels[chosen], fresh[chosen])
    masked = (ids[chosen] == tokenizer.mask_token_id).float().mean()
    kept = (ids[chosen] == fresh[chosen]).float().mean()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1 - 0.1 * 1 / 9) < 0.03
    assert (ids[chosen] > 4).logical_or(ids[chosen] == tokenizer.mask_token_id).all()


def test_bert_masking_chooses_unknown_tokens_like_any_other():
    """[UNK] is chosen at the same 0.15 rate as known words and labelled with its own id."""
    tokenizer = train_tokenizer(LINES, kind="wordlevel")
    objective = MaskedLM(MlmConfig(**REQUIRED, context_length=16))
    objective.check_tokenizer(tokenizer)
    lines = ["the zebra sat", "xylophone the cat quux"] * 2000
    examples = objective.examples([lines], tokenizer, objective.config, train=True)
    batch = objective.batch(examples, list(range(len(examples))), torch.Generator().manual_seed(0))
    ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(e) for e in examples], batch_first=True)
    chosen = batch.inputs["labels"] != -100
    unknown = ids == tokenizer.unk_token_id
    assert unknown.sum() == 3 * 2000
    assert abs(chosen[unknown].float().mean() - 0.15) < 0.015
    assert (batch.inputs["labels"][chosen & unknown] == tokenizer.unk_token_id).all()
    structural = torch.isin(ids, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id]))
    assert not chosen[structural].any()


def test_masked_lm_loss_is_the_summed_cross_entropy_at_chosen_positions():
    tokenizer = train_tokenizer(LINES, kind="wordlevel")
    config = MlmConfig(
        **REQUIRED,
        layers=1,
        hidden_size=16,
        heads=2,
        intermediate_size=32,
        dropout=0.0,
        context_length=16,
    )
    objective = MaskedLM(config)
    objective.check_tokenizer(tokenizer)
    model = objective.build_model(config, tokenizer).eval()
    examples = objective.examples([LINES], tokenizer, config, train=True)
    prepared = objective.batch(examples, [0, 1, 2], torch.Generator().manual_seed(3))
    batch, targets = prepared.inputs, prepared.counts["loss"]
    expected = (
        model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss
        * targets
    )  # HF's mean over chosen tokens
    assert torch.allclose(objective.loss(Models(model), batch)["loss"], expected, rtol=1e-5)


def test_causal_lm_stream_blocks_and_targets():
    tokenizer = train_tokenizer(LINES, kind="wordlevel")
    objective = CausalLM()
    objective.check_tokenizer(tokenizer)
    config = ClmConfig(**REQUIRED, context_length=4)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    stream = [t for line in LINES for t in tokenizer(line)["input_ids"]]  # [CLS] line [SEP]
    train = objective.examples([LINES], tokenizer, config, train=True)
    assert train.input_ids.flatten().tolist() == stream[: len(stream) // 4 * 4]
    validation = objective.examples([LINES], tokenizer, config, train=False)
    assert validation.target.sum() == len(stream) - len(LINES)  # every token but the bos ones
    assert not validation.target[validation.input_ids == cls].any()
    prepared = objective.batch(validation, [0], None)
    batch, targets = prepared.inputs, prepared.counts["loss"]
    assert batch["labels"][0].tolist() == [-100, *stream[1:4]]
    assert targets == 3 and sep in stream
