"""Classifier energies: scalar, hidden and sharp-hidden, against hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from textebm.energies.classifier import ClassifierEnergy, energy_from_outputs
from textebm.models.energy_head import EnergyHead, EnergyHeadConfig
from textebm.models.loading import load_classifier
from textebm.models.tiny import build_tiny_classifier


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return build_tiny_classifier(
        tmp_path_factory.mktemp("classifier"), num_labels=3, energy_head=True, init_scale=5.0
    )


def test_hidden_and_sharp_by_hand():
    logits = torch.tensor([[0.0, math.log(3)], [1.0, 1.0]])
    # -log(1 + 3) and -log(2e); -log 3 and -1
    hidden = energy_from_outputs("hidden", logits, None)
    sharp = energy_from_outputs("sharp-hidden", logits, None)
    assert hidden.tolist() == pytest.approx([-math.log(4), -(1 + math.log(2))])
    assert sharp.tolist() == pytest.approx([-math.log(3), -1.0])


def test_scalar_head_by_hand():
    """E = w2 . tanh(W1 h + b1) + b2 with dropout off, by hand for a 2-wide head."""
    head = EnergyHead(EnergyHeadConfig(hidden_size=2, dropout=0.5)).eval()
    with torch.no_grad():
        head.dense.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        head.dense.bias.copy_(torch.tensor([0.0, -1.0]))
        head.out.weight.copy_(torch.tensor([[3.0, -1.0]]))
        head.out.bias.copy_(torch.tensor([0.5]))
    h = torch.tensor([[0.5, 1.0]])
    expected = 3 * math.tanh(0.5) - math.tanh(2 * 1.0 - 1) + 0.5
    with torch.no_grad():
        energy = energy_from_outputs("scalar", torch.zeros(1, 2), h, head)
    assert float(energy) == pytest.approx(expected)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown classifier energy"):
        energy_from_outputs("electric", torch.zeros(1, 2), None)


def test_energies_match_the_model(classifier_dir):
    model, tokenizer, head = load_classifier(str(classifier_dir), device="cpu")
    assert head is not None
    texts = ["the cat sat on the mat .", "dogs", "she reads a book today"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    logits, h = out.logits, out.hidden_states[-1][:, 0]
    for kind, expected in [
        ("hidden", -torch.logsumexp(logits, -1)),
        ("sharp-hidden", -logits.max(-1).values),
        ("scalar", head(h)),
    ]:
        energy = ClassifierEnergy(model, tokenizer, kind=kind, head=head, temperature=2.0)
        scored = energy.score_texts(texts)
        assert [s.energy for s in scored] == pytest.approx((expected / 2).tolist(), abs=1e-5)
        assert scored[1].tokens == ["dogs"] and scored[1].token_energies == []
        assert energy.cost.sequences == 3


def test_with_grad_keeps_the_graph(classifier_dir):
    model, tokenizer, head = load_classifier(str(classifier_dir), device="cpu")
    energy = ClassifierEnergy(model, tokenizer, kind="scalar", head=head)
    ids = torch.tensor([tokenizer("the cat")["input_ids"]])
    assert energy.with_grad(ids).energy.requires_grad
    assert not energy(ids).energy.requires_grad


def test_head_round_trip(classifier_dir, tmp_path):
    """The head saved beside the classifier loads back with the same weights."""
    _, _, head = load_classifier(str(classifier_dir), device="cpu")
    h = torch.randn(4, 32)
    again = EnergyHead.from_pretrained(str(classifier_dir / "energy_head")).eval()
    assert torch.equal(head(h), again(h))
    head.save_pretrained(tmp_path / "copy")
    assert torch.equal(EnergyHead.from_pretrained(str(tmp_path / "copy")).eval()(h), head(h))


def test_scalar_without_head_is_a_usage_error(tmp_path):
    from textebm.errors import UsageError

    folder = build_tiny_classifier(tmp_path / "plain")
    with pytest.raises(UsageError, match="no scalar energy head"):
        load_classifier(str(folder), device="cpu", need_head=True)
    model, tokenizer, head = load_classifier(str(folder), device="cpu")
    assert head is None
    with pytest.raises(ValueError, match="head"):
        ClassifierEnergy(model, tokenizer, kind="scalar")
