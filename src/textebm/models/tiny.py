"""Tiny masked and causal LMs built offline, for tests and the quickstart.

They are saved with `save_pretrained`, so they load through exactly the path a hub model takes.
The weights are random: the energies they give are well defined but mean nothing linguistically.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from textebm.data.tokenizers import SPECIAL_TOKENS, wrap_bert_style
from textebm.models.saving import no_save_progress

# A small closed vocabulary: enough for simple English test sentences.
TINY_WORDS = (
    "the a an this that one two cat cats dog dogs bird birds man woman child children teacher "
    "house park garden tree river sun rain book books story song food water day night mat "
    "sat sits sit ran runs run saw sees see ate eats eat sang sings sing read reads likes like "
    "is are was were has have had will can "
    "on in under over near with to of and but or not "
    "big small old young happy sad red green quick slow good bad "
    "very quietly quickly today yesterday here there "
    "i you he she it we they him her them my your his its our their "
    ". , ! ? '"
).split()

# Word pieces for the WordPiece model: whole words plus continuations, so that words such as
# "unhappily" or "gardeners" split into several sub-words (the whole-word energy needs that).
TINY_PIECES = [
    "un",
    "re",
    "##s",
    "##ed",
    "##ing",
    "##ly",
    "##er",
    "##ers",
    "##ness",
    "##happy",
    "##happi",
    "##read",
    "##sing",
    "##kind",
    "kind",
    "##a",
    "##e",
    "##i",
    "##o",
    "##u",
    "##n",
    "##t",
    "##r",
    "##d",
    "##l",
    "##y",
]


def wordlevel_tokenizer(
    words: list[str] | None = None, model_max_length: int = 128
) -> PreTrainedTokenizerFast:
    """A lower-casing word-level tokenizer (split at spaces and punctuation), BERT specials."""
    vocab = {
        token: i for i, token in enumerate(dict.fromkeys(SPECIAL_TOKENS + (words or TINY_WORDS)))
    }
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return wrap_bert_style(tokenizer, model_max_length)


def wordpiece_tokenizer(
    words: list[str] | None = None, model_max_length: int = 128
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer over whole words plus a few `##` continuation pieces."""
    tokens = SPECIAL_TOKENS + (words or TINY_WORDS) + TINY_PIECES
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return wrap_bert_style(tokenizer, model_max_length)


def tiny_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """The word-level ("wordlevel") or WordPiece ("wordpiece") tokenizer of the tiny models."""
    builders = {"wordlevel": wordlevel_tokenizer, "wordpiece": wordpiece_tokenizer}
    if kind not in builders:
        raise ValueError(f"tokenizer_kind must be one of {sorted(builders)}, not {kind!r}")
    return builders[kind]()


def save_tiny(model, tokenizer, output_dir: str | Path) -> Path:
    """Save `model` and `tokenizer` into `output_dir` (made if missing), for `from_pretrained`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with no_save_progress():
        model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def tiny_bert_config(vocab_size: int, **overrides) -> BertConfig:
    """A 2-layer BERT, hidden size 32: small enough for tests to run many forward passes."""
    settings = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    settings.update(overrides)
    return BertConfig(**settings)


def tiny_mlm(
    tokenizer, seed: int = 0, init_scale: float = 1.0, **config_overrides
) -> BertForMaskedLM:
    """A random tiny BERT masked LM (`tiny_bert_config`) over `tokenizer`, in memory.

    init_scale: multiplies BERT's default initialiser range (0.02). Larger scales give masked
        conditionals that are further from any joint distribution, which the sampler tests need.
    """
    config = tiny_bert_config(
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.02 * init_scale,
        **config_overrides,
    )
    torch.manual_seed(seed)  # from_config draws from the global RNG; seeded so builds repeat
    return BertForMaskedLM(config).eval()


def build_tiny_mlm(
    output_dir: str | Path,
    tokenizer_kind: str = "wordlevel",
    seed: int = 0,
    init_scale: float = 1.0,
    **config_overrides,
) -> Path:
    """Build a random tiny BERT masked LM with its tokenizer and save both to `output_dir`.

    tokenizer_kind: "wordlevel" (one token per word) or "wordpiece" (words split into sub-words).
    init_scale: multiplies BERT's default initialiser range (0.02). Larger scales give masked
        conditionals that are further from any joint distribution, which the sampler tests need.
    Returns the folder, loadable with `AutoModelForMaskedLM.from_pretrained`.
    """
    tokenizer = tiny_tokenizer(tokenizer_kind)
    model = tiny_mlm(tokenizer, seed, init_scale, **config_overrides)
    return save_tiny(model, tokenizer, output_dir)


def build_tiny_clm(
    output_dir: str | Path, seed: int = 0, init_scale: float = 1.0, **config_overrides
) -> Path:
    """Build a random tiny GPT-2 (2 layers, hidden size 32) with the word-level tokenizer.

    The tokenizer's [CLS] doubles as bos and [SEP] as eos, as in `textebm train clm`.
    init_scale: multiplies GPT-2's default initialiser range (0.02); larger scales give
        next-token distributions further from uniform.
    Returns the folder, loadable with `AutoModelForCausalLM.from_pretrained`.
    """
    tokenizer = wordlevel_tokenizer()
    settings = dict(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_inner=64,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=0.02 * init_scale,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(config_overrides)
    torch.manual_seed(seed)  # from_config draws from the global RNG; seeded so builds repeat
    model = GPT2LMHeadModel(GPT2Config(**settings)).eval()
    return save_tiny(model, tokenizer, output_dir)


def tiny_llama(
    tokenizer, seed: int = 0, init_scale: float = 1.0, **config_overrides
) -> LlamaForCausalLM:
    """A random tiny Llama over `tokenizer`, in memory: 2 layers, hidden size 32, 4 query heads
    sharing 2 key/value heads, rotary positions, untied output layer.

    init_scale: multiplies Llama's default initialiser range (0.02); larger scales give
        next-token distributions further from uniform.
    """
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        initializer_range=0.02 * init_scale,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(config_overrides)
    torch.manual_seed(seed)  # from_config draws from the global RNG; seeded so builds repeat
    return LlamaForCausalLM(LlamaConfig(**settings)).eval()


def build_tiny_llama(
    output_dir: str | Path, seed: int = 0, init_scale: float = 1.0, **config_overrides
) -> Path:
    """Build `tiny_llama` with the word-level tokenizer and save both to `output_dir`: the other
    causal-LM shape, beside `build_tiny_clm`'s GPT-2. Returns the folder, loadable with
    `AutoModelForCausalLM.from_pretrained`.
    """
    tokenizer = wordlevel_tokenizer()
    model = tiny_llama(tokenizer, seed, init_scale, **config_overrides)
    return save_tiny(model, tokenizer, output_dir)


def build_tiny_seq2seq(output_dir: str | Path, seed: int = 0, init_scale: float = 1.0) -> Path:
    """Build a random tiny encoder-decoder (one layer each side, hidden size 32, BART layout, as
    `textebm train seq2seq` makes) with the word-level tokenizer as its joint vocabulary.

    init_scale: multiplies BART's initialiser range (0.02); larger scales give next-token
        distributions further from uniform. Returns the folder, for `load_seq2seq`.
    """
    from textebm.models.seq2seq import seq2seq_model

    tokenizer = wordlevel_tokenizer()
    torch.manual_seed(seed)
    model = seq2seq_model(
        tokenizer, 1, 32, 2, 64, positions=64, dropout=0.0, init_std=0.02 * init_scale
    ).eval()
    return save_tiny(model, tokenizer, output_dir)


def build_tiny_classifier(
    output_dir: str | Path,
    num_labels: int = 2,
    energy_head: bool = False,
    seed: int = 0,
    init_scale: float = 1.0,
) -> Path:
    """Build a random tiny BERT classifier with the word-level tokenizer, saved for
    `AutoModelForSequenceClassification`; with `energy_head`, a scalar energy head beside it
    (`energy_head/`). Returns the folder."""
    from textebm.models.energy_head import HEAD_FOLDER, EnergyHead, EnergyHeadConfig

    tokenizer = wordlevel_tokenizer()
    config = tiny_bert_config(
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.02 * init_scale,
        num_labels=num_labels,
    )
    torch.manual_seed(seed)  # from_config draws from the global RNG; seeded so builds repeat
    model = BertForSequenceClassification(config).eval()
    output_dir = save_tiny(model, tokenizer, output_dir)
    if energy_head:
        head_config = EnergyHeadConfig(
            hidden_size=config.hidden_size, dropout=0.0, initializer_range=0.02 * init_scale
        )
        with no_save_progress():
            EnergyHead(head_config).save_pretrained(output_dir / HEAD_FOLDER)
    return output_dir


def build_tiny_electric(
    output_dir: str | Path,
    tokenizer_kind: str = "wordlevel",
    seed: int = 0,
    init_scale: float = 1.0,
    **config_overrides,
) -> Path:
    """Build a random tiny Electric model (2-layer BERT encoder, hidden size 32, energy head)
    with the word-level or WordPiece tokenizer and save both to `output_dir`.

    init_scale: multiplies BERT's default initialiser range (0.02); larger scales give per-token
        energies that vary more with the token and its context.
    Returns the folder, loadable with `AutoModel.from_pretrained` once `textebm` is imported.
    """
    from textebm.models.electric import ElectricConfig, ElectricModel

    tokenizer = tiny_tokenizer(tokenizer_kind)
    settings = tiny_bert_config(
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.02 * init_scale,
        **config_overrides,
    ).to_dict()
    for key in ("model_type", "transformers_version", "architectures"):
        settings.pop(key, None)
    torch.manual_seed(seed)  # from_config draws from the global RNG; seeded so builds repeat
    model = ElectricModel(ElectricConfig(**settings)).eval()
    return save_tiny(model, tokenizer, output_dir)


def tiny_cmlm(tokenizer, seed: int = 0, init_scale: float = 1.0, **config_overrides):
    """A random tiny conditional masked LM (`models.cmlm`: 2 + 2 layers, hidden size 32, 64
    positions) over `tokenizer`, one joint vocabulary for source and target, in memory.

    init_scale: multiplies the initialiser range (0.02); larger scales give conditionals that
        depend more on the source and the target context.
    """
    from textebm.models.cmlm import CMLMConfig, CMLMModel

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        encoder_layers=2,
        decoder_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        dropout=0.0,
        max_position_embeddings=64,
        initializer_range=0.02 * init_scale,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(config_overrides)
    torch.manual_seed(seed)  # the initialisation draws from the global RNG; seeded so builds repeat
    return CMLMModel(CMLMConfig(**settings)).eval()


def build_tiny_cmlm(
    output_dir: str | Path,
    tokenizer_kind: str = "wordlevel",
    seed: int = 0,
    init_scale: float = 1.0,
    **config_overrides,
) -> Path:
    """Build `tiny_cmlm` with the word-level or WordPiece tokenizer (one joint vocabulary for
    source and target) and save both to `output_dir`.

    Returns the folder, loadable with `AutoModel.from_pretrained` once `textebm` is imported.
    """
    tokenizer = tiny_tokenizer(tokenizer_kind)
    model = tiny_cmlm(tokenizer, seed, init_scale, **config_overrides)
    return save_tiny(model, tokenizer, output_dir)
