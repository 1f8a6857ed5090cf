"""The Electric model: Auto-class registration, save/load round trip, starting from an encoder."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertForMaskedLM, GPT2Config, GPT2Model

from textebm.errors import UsageError
from textebm.models import ElectricConfig, ElectricModel
from textebm.models.loading import load_electric
from textebm.models.tiny import build_tiny_electric, tiny_bert_config, wordlevel_tokenizer


def _batch(tokenizer, texts):
    encoding = tokenizer(texts, padding=True, return_tensors="pt")
    return encoding["input_ids"], encoding["attention_mask"]


def test_round_trip_through_auto_classes_gives_identical_energies(electric, sentences, tmp_path):
    model, tokenizer = electric
    input_ids, attention_mask = _batch(tokenizer, sentences)
    with torch.no_grad():
        before = model(input_ids, attention_mask).energies
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    assert isinstance(AutoConfig.from_pretrained(tmp_path), ElectricConfig)
    # The same attention implementation as the loaded fixture, so the sums run in the same order.
    reloaded = AutoModel.from_pretrained(
        tmp_path, attn_implementation=model.config._attn_implementation
    ).eval()
    assert type(reloaded) is ElectricModel
    with torch.no_grad():
        after = reloaded(input_ids, attention_mask).energies
    assert before.shape == input_ids.shape
    assert torch.equal(before, after)


def test_energies_are_the_linear_head_on_every_token_and_ignore_padding(electric, sentences):
    model, tokenizer = electric
    input_ids, attention_mask = _batch(tokenizer, sentences)
    with torch.no_grad():
        output = model(input_ids, attention_mask, output_hidden_states=True)
    assert len(output.hidden_states) == model.config.num_hidden_layers + 1
    assert torch.equal(output.hidden_states[-1], output.last_hidden_state)
    head = model.energy_head
    by_hand = output.last_hidden_state @ head.weight[0] + head.bias[0]
    assert torch.allclose(output.energies, by_hand, atol=1e-5)
    assert output.energies.std() > 0.1  # init_scale 5: energies depend on the token
    for row, text in enumerate(sentences):  # alone, unpadded: the same energies
        alone = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            energies = model(alone).energies[0]
        n = alone.shape[1]
        assert torch.allclose(output.energies[row, :n], energies, atol=1e-5)


def test_gradients_reach_the_encoder_and_the_head(electric_dir):
    model = AutoModel.from_pretrained(electric_dir)
    model.train()
    input_ids = torch.tensor([[2, 10, 11, 12, 3]])
    model(input_ids).energies.sum().backward()
    assert model.energy_head.weight.grad.abs().sum() > 0
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_from_encoder_copies_a_masked_lms_encoder(wordlevel_dir, wordlevel, tmp_path):
    mlm, tokenizer = wordlevel
    for source in (str(wordlevel_dir), mlm):
        model = ElectricModel.from_encoder(source, seed=0)
        assert isinstance(model.config, ElectricConfig)
        assert model.config.hidden_size == mlm.config.hidden_size
        mine = model.bert.state_dict()
        theirs = mlm.bert.state_dict()
        assert set(mine) == {k for k in theirs if not k.startswith("pooler.")}
        for name, tensor in mine.items():
            assert torch.equal(tensor, theirs[name]), name
    # A copy, not shared: training the Electric encoder leaves the masked LM as it was.
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.add_(1.0)
    assert not torch.equal(
        model.bert.embeddings.word_embeddings.weight, mlm.bert.embeddings.word_embeddings.weight
    )
    # The head is fresh, seeded, and the global RNG is left as it was.
    state = torch.random.get_rng_state()
    again = ElectricModel.from_encoder(mlm, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(again.energy_head.weight, model.energy_head.weight)
    assert not torch.equal(ElectricModel.from_encoder(mlm, seed=1).energy_head.weight,
                           again.energy_head.weight)  # fmt: skip
    # Saved and loaded, it is an ordinary Electric folder.
    again.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_electric(str(tmp_path), device="cpu")
    assert torch.equal(loaded.bert.embeddings.word_embeddings.weight,
                       mlm.bert.embeddings.word_embeddings.weight)  # fmt: skip


def test_from_encoder_refuses_a_non_bert_encoder():
    config = GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=20, n_positions=16)
    with pytest.raises(ValueError, match="BERT-style encoder"):
        ElectricModel.from_encoder(GPT2Model(config))


def test_config_is_always_a_bidirectional_encoder():
    tokenizer = wordlevel_tokenizer()
    settings = tiny_bert_config(len(tokenizer)).to_dict()
    settings.pop("model_type")
    config = ElectricConfig(**{**settings, "is_decoder": True, "tie_word_embeddings": True})
    assert config.model_type == "electric"
    assert not config.is_decoder and not config.tie_word_embeddings


def test_textebm_exposes_the_classes_lazily():
    import textebm

    assert textebm.ElectricModel is ElectricModel
    assert textebm.ElectricConfig is ElectricConfig
    with pytest.raises(AttributeError):
        textebm.NoSuchThing  # noqa: B018


def test_tiny_builds_repeat_under_a_seed(tmp_path):
    first = AutoModel.from_pretrained(build_tiny_electric(tmp_path / "a", seed=3))
    second = AutoModel.from_pretrained(build_tiny_electric(tmp_path / "b", seed=3))
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_load_electric_refuses_other_models_in_one_line(wordlevel_dir):
    with pytest.raises(UsageError, match="is a 'bert' model, not an Electric one"):
        load_electric(str(wordlevel_dir))


def test_a_masked_lm_is_not_an_electric_model(wordlevel_dir):
    # BertForMaskedLM keeps its own type through the Auto classes: registration is additive.
    assert type(AutoModel.from_pretrained(wordlevel_dir)).__name__ == "BertModel"
    assert BertForMaskedLM.from_pretrained(wordlevel_dir).config.model_type == "bert"
