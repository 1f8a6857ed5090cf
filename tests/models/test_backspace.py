"""`<bkspc>` added to tiny GPT-2 (tied embeddings) and Llama (untied) causal LMs."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from textebm.models.backspace import BKSPC_TOKEN, add_backspace, backspace_id, has_backspace
from textebm.models.tiny import build_tiny_clm, build_tiny_llama

BUILDERS = {"gpt2": build_tiny_clm, "llama": build_tiny_llama}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def model_dir(request, tmp_path_factory):
    return BUILDERS[request.param](tmp_path_factory.mktemp(request.param), init_scale=5.0)


def load(folder):
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return model, AutoTokenizer.from_pretrained(folder)


def sample_ids(vocab: int, seed: int = 0) -> torch.Tensor:
    """(3, 9) random ids of existing tokens."""
    return torch.randint(0, vocab, (3, 9), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_new_row_keeps_old_logits_and_starts_at_the_mean_logit(model_dir):
    model, tokenizer = load(model_dir)
    vocab = len(tokenizer)
    ids = sample_ids(vocab)
    before = model(input_ids=ids).logits
    token = add_backspace(model, tokenizer)
    assert token == vocab == backspace_id(tokenizer)
    assert len(tokenizer) == vocab + 1 and BKSPC_TOKEN in tokenizer.all_special_tokens
    assert model.get_input_embeddings().num_embeddings == vocab + 1
    assert model.get_output_embeddings().weight.shape[0] == vocab + 1
    after = model(input_ids=ids).logits
    # Existing tokens' logits are exactly unchanged; the new one is their mean in every state.
    assert torch.equal(after[..., :vocab], before[..., :vocab])
    torch.testing.assert_close(after[..., token], before.mean(-1), atol=1e-5, rtol=1e-5)
    # Jensen: exp(mean l) <= mean exp(l), so p(<bkspc>) <= 1 / (V + 1) everywhere.
    p_backspace = after.softmax(-1)[..., token]
    assert bool((p_backspace <= 1 / (vocab + 1) + 1e-7).all())
    top = after.softmax(-1)[..., :vocab].max(-1).values  # the most probable old token
    assert float(p_backspace.max()) < 0.5 * float(top.min())


@torch.no_grad()
def test_tied_or_untied_as_before(model_dir):
    model, tokenizer = load(model_dir)
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    add_backspace(model, tokenizer)
    inputs, outputs = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert (outputs.data_ptr() == inputs.data_ptr()) == tied
    known = len(tokenizer) - 1
    torch.testing.assert_close(inputs[known], inputs[:known].mean(0))
    torch.testing.assert_close(outputs[known], outputs[:known].mean(0))


def test_idempotent(model_dir):
    model, tokenizer = load(model_dir)
    token = add_backspace(model, tokenizer)
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    assert add_backspace(model, tokenizer) == token
    assert len(tokenizer) == token + 1
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name


def test_tokenizer_with_it_and_model_without_is_refused(model_dir):
    model, tokenizer = load(model_dir)
    add_backspace(model, tokenizer)
    bare, _ = load(model_dir)
    assert not has_backspace(bare, tokenizer)
    with pytest.raises(ValueError, match="embedding rows"):
        add_backspace(bare, tokenizer)


@torch.no_grad()
def test_save_and_load_round_trip(model_dir, tmp_path):
    model, tokenizer = load(model_dir)
    token = add_backspace(model, tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again, again_tokenizer = load(tmp_path)
    assert backspace_id(again_tokenizer) == token and has_backspace(again, again_tokenizer)
    assert again_tokenizer.convert_tokens_to_ids(BKSPC_TOKEN) == token
    assert again_tokenizer("the <bkspc> cat", add_special_tokens=False)["input_ids"][1] == token
    ids = sample_ids(token + 1, seed=1)
    torch.testing.assert_close(again(input_ids=ids).logits, model(input_ids=ids).logits)
    assert add_backspace(again, again_tokenizer) == token  # a loaded model already has it


@torch.no_grad()
def test_spare_rows_are_used_not_shrunk(tmp_path):
    """A matrix padded beyond the tokenizer (as many hub models are) keeps its size."""
    folder = build_tiny_llama(tmp_path, init_scale=5.0, vocab_size=128)
    model, tokenizer = load(folder)
    vocab = len(tokenizer)
    assert vocab < 127
    token = add_backspace(model, tokenizer)
    assert token == vocab and model.get_input_embeddings().num_embeddings == 128
    torch.testing.assert_close(model.lm_head.weight[token], model.lm_head.weight[:vocab].mean(0))


@torch.no_grad()
def test_output_bias_starts_at_the_mean_bias(tmp_path):
    model, tokenizer = load(build_tiny_llama(tmp_path, init_scale=5.0))
    vocab = len(tokenizer)
    head = torch.nn.Linear(32, vocab, bias=True)
    head.bias.normal_(generator=torch.Generator().manual_seed(0))
    model.lm_head = head
    ids = sample_ids(vocab)
    before = model(input_ids=ids).logits
    token = add_backspace(model, tokenizer)
    assert model.lm_head.bias.shape == (vocab + 1,)
    torch.testing.assert_close(model.lm_head.bias[token], head.bias[:vocab].mean())
    after = model(input_ids=ids).logits
    assert torch.equal(after[..., :vocab], before)
    torch.testing.assert_close(after[..., token], before.mean(-1), atol=1e-5, rtol=1e-5)
