"""The rewrite noise model: its masked prompts, its targets, and training it, then sampling it
into a noise file that the classifier recipe accepts."""

from __future__ import annotations

import pytest
import torch

from textebm.cli.main import main
from textebm.data.labelled import read_labelled
from textebm.data.noise import (
    read_noise,
    read_noise_header,
    task_fingerprint,
    tokenizer_fingerprint,
)
from textebm.data.rewrite import masked_prompt, rewrite_prompt
from textebm.models.loading import load_tokenizer
from textebm.objectives.causal_lm import IGNORE
from textebm.recipes.noise_lm import NoiseLM
from textebm.recipes.noise_lm_config import NoiseLmConfig

M = 4  # the mask id in this file's hand cases


def test_masked_prompt_merges_runs():
    """Draws u = rand(6); token i masked where u_i < 0.4; each run of masks becomes one M."""
    ids = [10, 11, 12, 13, 14, 15]
    u = torch.rand(6, generator=torch.Generator().manual_seed(3))
    expected: list[int] = []
    for token, draw in zip(ids, u.tolist(), strict=True):
        if draw >= 0.4:
            expected.append(token)
        elif not expected or expected[-1] != M:
            expected.append(M)
    got = masked_prompt(ids, M, 0.4, torch.Generator().manual_seed(3))
    assert got == expected
    assert masked_prompt(ids, M, 1.0, torch.Generator()) == [M]  # one run: one mask
    assert masked_prompt(ids, M, 0.0, torch.Generator()) == ids
    assert rewrite_prompt([10, 11], 2, 3, M, 0.0, torch.Generator()) == [2, 10, 11, 3]
    assert rewrite_prompt([10, 11], None, 3, M, 1.0, torch.Generator()) == [M, 3]


def test_masks_hit_about_the_probability():
    generator = torch.Generator().manual_seed(0)
    prompts = [masked_prompt(list(range(10, 30)), M, 0.4, generator) for _ in range(300)]
    # Unmasked tokens survive in order: 60% of 20 on average.
    kept = sum(len([t for t in p if t != M]) for p in prompts) / (300 * 20)
    assert abs(kept - 0.6) < 0.03


def test_batch_predicts_only_the_full_text(wordlevel_dir):
    tokenizer = load_tokenizer(str(wordlevel_dir))
    config = NoiseLmConfig(corpus="x", output="y", tokenizer="t", mask_probability=0.5)
    objective = NoiseLM(config)
    objective.check_tokenizer(tokenizer)
    examples = [[10, 11, 12], [13]]
    batch = objective.batch(examples, [0, 1], torch.Generator().manual_seed(0))
    eos, pad = objective.eos_id, objective.pad_id
    for row, ids in enumerate(examples):
        labels = batch.inputs["labels"][row]
        targets = labels[labels != IGNORE].tolist()
        assert targets == [*ids, eos]
        start = int((labels != IGNORE).nonzero()[0])
        assert batch.inputs["input_ids"][row][start - 1] == eos  # the prompt ends with eos
        assert batch.inputs["input_ids"][row][0] == objective.bos_id
    assert batch.counts == {"loss": 3 + 1 + 1 + 1}
    assert batch.inputs["input_ids"][1].tolist()[-1] == pad  # the short row is right-padded


TRAIN = [
    ("the cat sat on the mat .", "a dog ran", "1"),
    ("a dog ran in the park", "the cat sat", "0"),
    ("the old cat sang", "we saw them", "1"),
    ("we saw them yesterday near the green river", "she sang", "0"),
]


@pytest.fixture(scope="module")
def rewrite_model(tmp_path_factory, wordlevel_dir):
    """A rewrite model trained a few steps on both sides of TRAIN's pairs."""
    folder = tmp_path_factory.mktemp("noise-lm")
    rows = "".join(f"{a}\t{b}\t{y}\n" for a, b, y in TRAIN)
    (folder / "train.tsv").write_text("sentence\tsentence2\tlabel\n" + rows)
    argv = [
        "train", "noise-lm", "--corpus", str(folder / "train.tsv"), "--text-column", "sentence",
        "--text-pair-column", "sentence2", "--tokenizer", str(wordlevel_dir),
        "--layers", "1", "--hidden-size", "32", "--heads", "2", "--intermediate-size", "64",
        "--context-length", "40", "--batch-size", "4", "--max-steps", "3", "--log-every", "1",
        "--output", str(folder / "model"),
    ]  # fmt: skip
    assert main(argv) == 0
    return folder


def test_trained_model_writes_accepted_noise(rewrite_model, wordlevel_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "1")
    train = rewrite_model / "train.tsv"
    base = [
        "generate-noise", "--method", "rewrite", "--model", str(rewrite_model / "model"),
        "--train", str(train), "--text-pair-column", "sentence2", "--ratio", "2", "--seed", "4",
    ]  # fmt: skip
    assert main([*base, "-o", str(tmp_path / "a.jsonl")]) == 0
    assert main([*base, "-o", str(tmp_path / "b.jsonl")]) == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    rows = read_labelled(train, text_pair_column="sentence2")
    fingerprint = tokenizer_fingerprint(load_tokenizer(str(wordlevel_dir)))
    noise = read_noise(
        tmp_path / "a.jsonl", task=task_fingerprint(rows), tokenizer=fingerprint, pairs=True
    )
    assert len(noise) == 2 * len(TRAIN)
    header = read_noise_header(tmp_path / "a.jsonl")
    assert header["noise_model"]["method"] == "rewrite"
    assert 0 <= header["noise_model"]["blank_rewrites_kept_original"] <= len(noise) * 2


def test_rewrites_never_hold_special_tokens(rewrite_model):
    """Even a model that puts nearly all its mass on [MASK], [CLS] and [PAD] writes real words
    (and may end): a drawn special token would decode to its literal text. [UNK] stays allowed:
    data holds it too."""
    from textebm.models.loading import load_causal_lm
    from textebm.samplers.noise_config import NoiseConfig
    from textebm.samplers.rewrite_noise import rewrite_noise

    model, tokenizer = load_causal_lm(str(rewrite_model / "model"), device="cpu")
    eos = tokenizer.eos_token_id
    specials = [i for i in tokenizer.all_special_ids if i not in (eos, tokenizer.unk_token_id)]
    assert {tokenizer.mask_token_id, tokenizer.pad_token_id} <= set(specials)

    def favour_specials(module, inputs, logits):
        logits = logits.clone()
        logits[..., specials] += 50.0
        return logits

    model.get_output_embeddings().register_forward_hook(favour_specials)
    examples = read_labelled(rewrite_model / "train.tsv")
    config = NoiseConfig(
        method="rewrite", model="m", train="t", seed=0, ratio=3, top_k=0, mask_fraction=0.4
    )
    noise, _ = rewrite_noise(model, tokenizer, examples, config)
    words = {word for example in noise for word in example.text.split()}
    assert words and not words & set(tokenizer.convert_ids_to_tokens(specials))


def test_bad_mask_probability():
    from textebm.errors import UsageError

    with pytest.raises(UsageError, match="--mask-probability"):
        NoiseLmConfig(corpus="x", output="y", tokenizer="t", mask_probability=1.0)


def test_a_stock_bert_tokenizer_gets_cls_and_sep_as_bos_and_eos(tmp_path):
    """MiniLM's tokenizer (stock WordPiece) names no bos or eos: the noise LM takes [CLS] and
    [SEP], without changing the vocabulary or the noise fingerprint, and saves them."""
    from transformers import AutoTokenizer, BertTokenizerFast

    from textebm.recipes.noise_lm import adopt_bert_specials

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert tokenizer.eos_token_id is None and tokenizer.bos_token_id is None
    before = tokenizer_fingerprint(tokenizer)
    objective = NoiseLM(NoiseLmConfig(corpus="x", output="y", tokenizer="t"))
    objective.check_tokenizer(tokenizer)
    assert (objective.bos_id, objective.eos_id) == (2, 3)  # [CLS], [SEP]
    assert tokenizer_fingerprint(tokenizer) == before
    tokenizer.save_pretrained(tmp_path / "saved")
    assert AutoTokenizer.from_pretrained(tmp_path / "saved").eos_token == "[SEP]"
    adopt_bert_specials(tokenizer)  # idempotent
    assert tokenizer.eos_token == "[SEP]"
