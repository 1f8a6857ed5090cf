"""Training tokenizers from a corpus: word-level, WordPiece, byte-level BPE.

Every tokenizer this module builds serves both kinds of model, so one folder holds it for both:

- special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]` with ids 0-4 (the order of `models.tiny`);
- a single sentence encodes as `[CLS] x [SEP]`, which a masked LM reads as BERT does and a causal
  LM as `bos x eos`: `[CLS]` doubles as the bos token and `[SEP]` as the eos token, so a causal LM
  trained on lines with eos at each line end scores a sentence as p(x, eos | bos);
- saved with `save_pretrained`, it loads with `AutoTokenizer.from_pretrained(folder)`.

Word-level is for corpora whose vocabulary is already closed (PTB): it splits on whitespace only,
so PTB's `n't` and `'s` stay single tokens, and PTB's own `<unk>` stays an ordinary word (the
standard way to report PTB perplexity); words outside the vocabulary become `[UNK]`. WordPiece
(BERT's pre-tokenisation, `##` continuations) and byte-level BPE (GPT-2's, no unknown words, exact
round trip) are for open text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from textebm.errors import UsageError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("wordlevel", "wordpiece", "bpe")
DEFAULT_VOCAB_SIZE = 8000  # for the sub-word kinds; word-level keeps every word by default


@dataclass
class TokenizerConfig:
    """What `textebm train tokenizer` trains, and where it saves it."""

    corpus: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "training text (.gz read transparently), or a TSV file with --text-column; "
            "repeat the flag to train on several files together, e.g. both sides of a parallel "
            "corpus for a joint tokenizer",
            "path": True,
            "metavar": "FILE",
            "repeat": True,
        },
    )
    dataset: str | None = field(
        default=None,
        metadata={
            "help": "a Hugging Face dataset (name or local folder) instead of --corpus",
            "metavar": "NAME",
        },
    )
    split: str = field(default="train", metadata={"help": "the dataset split to read"})
    text_column: str | None = field(
        default=None,
        metadata={
            "help": "the column holding the text, for a TSV corpus (by its header) or a dataset",
            "metavar": "NAME",
        },
    )
    kind: str = field(
        default="wordpiece",
        metadata={
            "help": "wordlevel (closed vocabularies such as PTB), wordpiece or bpe "
            "(byte-level, for open text)",
            "choices": KINDS,
        },
    )
    vocab_size: int | None = field(
        default=None,
        metadata={
            "help": "vocabulary size, special tokens included (default: every word for "
            f"wordlevel, {DEFAULT_VOCAB_SIZE} otherwise)",
            "metavar": "N",
        },
    )
    min_frequency: int = field(
        default=1, metadata={"help": "drop words (wordlevel) or merges seen fewer times"}
    )
    lowercase: bool = field(default=False, metadata={"help": "lower-case text before splitting"})
    model_max_length: int = field(
        default=512, metadata={"help": "the longest input, special tokens included"}
    )
    output: str | None = field(
        default=None,
        metadata={"help": "folder to save the tokenizer to", "path": True, "metavar": "DIR"},
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace a tokenizer already saved in --output"}
    )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown tokenizer kind {self.kind!r}; choose one of {KINDS}")
        if self.vocab_size is not None and self.vocab_size <= len(SPECIAL_TOKENS):
            raise UsageError(f"--vocab-size must exceed {len(SPECIAL_TOKENS)} (the special tokens)")
        if self.output is None:
            raise UsageError("pass --output DIR, the folder to save the tokenizer to")


def _pipeline(kind: str, vocab_size: int | None, min_frequency: int) -> tuple[Tokenizer, object]:
    """An untrained tokenizer of `kind` and the trainer that fills its vocabulary."""
    common = dict(special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency, show_progress=False)
    if kind == "wordlevel":
        tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        # WordLevelTrainer's vocab_size is a cap; a huge one keeps every word.
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size or 2**31 - 1, **common)
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size or DEFAULT_VOCAB_SIZE, **common)
    else:
        tokenizer = Tokenizer(models.BPE())  # byte-level: every string encodes, no [UNK] needed
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size or DEFAULT_VOCAB_SIZE,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            **common,
        )
    return tokenizer, trainer


def train_tokenizer(
    lines: Iterable[str],
    kind: str = "wordpiece",
    vocab_size: int | None = None,
    min_frequency: int = 1,
    lowercase: bool = False,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a tokenizer of `kind` on `lines` and wrap it for `transformers` (see module notes).

    vocab_size counts the special tokens; None keeps every word (wordlevel) or uses 8000.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    tokenizer, trainer = _pipeline(kind, vocab_size, min_frequency)
    if lowercase:
        tokenizer.normalizer = normalizers.Lowercase()
    elif kind == "wordpiece":  # BERT's clean-up (control characters, CJK spacing), case kept
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.train_from_iterator((line for line in lines if line.strip()), trainer=trainer)
    if tokenizer.get_vocab_size() <= len(SPECIAL_TOKENS):
        raise UsageError("the corpus has no text to train a tokenizer on")
    return wrap_bert_style(tokenizer, model_max_length, byte_level=kind == "bpe")


def wrap_bert_style(
    tokenizer: Tokenizer, model_max_length: int, byte_level: bool = False
) -> PreTrainedTokenizerFast:
    """Add `[CLS] text [SEP]` wrapping to a `tokenizers.Tokenizer` whose vocabulary holds
    SPECIAL_TOKENS, and wrap it for `transformers`, [CLS]/[SEP] doubling as bos/eos.

    byte_level: keep byte-level offsets right (BPE) before adding the special tokens.
    """
    from transformers import PreTrainedTokenizerFast

    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    template = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    if byte_level:
        template = processors.Sequence([processors.ByteLevel(trim_offsets=False), template])
    tokenizer.post_processor = template
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=model_max_length,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[CLS]",
        eos_token="[SEP]",
    )


def build_tokenizer(config: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Train the tokenizer `config` describes and save it, atomically, to `config.output`."""
    from pathlib import Path

    from textebm.data.corpus import lines_of, load_corpus
    from textebm.data.folders import atomic_folder

    output = Path(config.output)
    if (output / "tokenizer.json").exists() and not config.overwrite:
        raise UsageError(f"{output} already holds a tokenizer; pass --overwrite to replace it")
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file, not a folder")
    corpora = [config.corpus] if not isinstance(config.corpus, list) else config.corpus
    lines = []
    for corpus in corpora:  # several files: one joint vocabulary (e.g. two languages)
        documents = load_corpus(corpus, config.dataset, config.split, config.text_column)
        lines.extend(lines_of(documents))
    tokenizer = train_tokenizer(
        lines,
        kind=config.kind,
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        lowercase=config.lowercase,
        model_max_length=config.model_max_length,
    )
    with atomic_folder(output) as folder:
        tokenizer.save_pretrained(folder)
    return tokenizer


def load_tokenizer_folder(path: str) -> PreTrainedTokenizerFast:
    """The tokenizer saved in a local folder (by `train tokenizer` or with a model), offline."""
    from pathlib import Path

    from transformers import AutoTokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"tokenizer folder not found: {folder}")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise UsageError(f"{folder} holds no tokenizer; make one with `textebm train tokenizer`")
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error)
        raise UsageError(f"cannot load the tokenizer in {folder}: {reason}") from None
