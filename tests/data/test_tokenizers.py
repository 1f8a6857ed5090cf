"""Tokenizers trained from a corpus: round trips, special tokens, loading with AutoTokenizer."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from textebm.data.tokenizers import (
    SPECIAL_TOKENS,
    TokenizerConfig,
    build_tokenizer,
    load_tokenizer_folder,
    train_tokenizer,
)
from textebm.errors import UsageError

PTB_LIKE = [
    "the company said it expects <unk> sales of $ N million",
    "mr. <unk> is n't expected to resign",
    "the market 's decline was N N in the third quarter",
] * 5
OPEN_TEXT = [
    "Once upon a time, a little dog named Spot found a red ball.",
    "Spot was happy! He played with the ball all day.",
    'Lily said, "Thank you, Spot." They became best friends.',
] * 5


@pytest.mark.parametrize("kind", ["wordlevel", "wordpiece", "bpe"])
def test_round_trip_after_saving(kind, tmp_path):
    lines = PTB_LIKE if kind == "wordlevel" else OPEN_TEXT
    train_tokenizer(lines, kind=kind, vocab_size=300).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    for line in lines[:3]:
        ids = tokenizer(line)["input_ids"]
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert tokenizer.unk_token_id not in ids
        decoded = tokenizer.decode(ids, skip_special_tokens=True)
        if kind == "wordpiece":  # BERT pre-tokenisation puts spaces around punctuation
            decoded, line = decoded.replace(" ", ""), line.replace(" ", "")
        assert decoded == line


def test_special_tokens_serve_both_model_kinds(tmp_path):
    train_tokenizer(OPEN_TEXT, kind="bpe", vocab_size=300).save_pretrained(tmp_path)
    tokenizer = load_tokenizer_folder(str(tmp_path))
    assert tokenizer.convert_ids_to_tokens(list(range(5))) == SPECIAL_TOKENS
    assert (tokenizer.pad_token, tokenizer.unk_token, tokenizer.mask_token) == (
        "[PAD]",
        "[UNK]",
        "[MASK]",
    )
    assert (tokenizer.bos_token, tokenizer.eos_token) == ("[CLS]", "[SEP]")
    assert tokenizer("a b", "c")["input_ids"].count(tokenizer.sep_token_id) == 2


def test_wordlevel_keeps_ptb_unk_as_a_word_and_splits_on_spaces_only():
    tokenizer = train_tokenizer(PTB_LIKE, kind="wordlevel")
    tokens = tokenizer.tokenize("mr. <unk> is n't zebra")
    assert tokens == ["mr.", "<unk>", "is", "n't", "[UNK]"]
    assert tokenizer.convert_tokens_to_ids("<unk>") != tokenizer.unk_token_id
    words = {word for line in PTB_LIKE for word in line.split()}
    assert len(tokenizer) == len(words) + len(SPECIAL_TOKENS)  # every word kept by default


def test_vocab_size_and_lowercase():
    tokenizer = train_tokenizer(PTB_LIKE, kind="wordlevel", vocab_size=10)
    assert len(tokenizer) == 10
    lower = train_tokenizer(OPEN_TEXT, kind="wordpiece", vocab_size=200, lowercase=True)
    assert lower.tokenize("Spot") == lower.tokenize("spot")


def test_build_from_tsv_column_and_refuse_to_overwrite(tmp_path):
    (tmp_path / "data.tsv").write_text("sentence\tlabel\nthe cat sat\t1\na dog ran\t0\n")
    config = TokenizerConfig(
        corpus=str(tmp_path / "data.tsv"),
        text_column="sentence",
        kind="wordlevel",
        output=str(tmp_path / "tok"),
    )
    build_tokenizer(config)
    tokenizer = load_tokenizer_folder(str(tmp_path / "tok"))
    assert "sentence" not in tokenizer.get_vocab() and "cat" in tokenizer.get_vocab()
    with pytest.raises(UsageError, match="--overwrite"):
        build_tokenizer(config)
    config.overwrite = True
    build_tokenizer(config)


def test_bad_settings():
    with pytest.raises(UsageError, match="kind"):
        TokenizerConfig(corpus="x", kind="sentencepiece", output="o")
    with pytest.raises(UsageError, match="--output"):
        TokenizerConfig(corpus="x")
    with pytest.raises(UsageError, match="no text"):
        train_tokenizer(["", "  "], kind="wordlevel")
    with pytest.raises(UsageError, match="not found"):
        load_tokenizer_folder("/nonexistent/tokenizer")
