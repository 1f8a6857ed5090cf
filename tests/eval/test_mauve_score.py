"""MAUVE through mauve-text on mean-pooled local-encoder features; a one-line error without it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from textebm.errors import UsageError
from textebm.eval.mauve_score import MISSING, import_mauve, load_encoder, mean_pooled_features


@torch.no_grad()
def test_features_are_mean_pooled_hidden_states_without_padding(wordlevel_dir):
    model, tokenizer = load_encoder(str(wordlevel_dir), device="cpu")
    texts = ["the cat sat on the mat .", "dogs", "we saw them"]
    batched = mean_pooled_features(model, tokenizer, texts, batch_size=2)
    for row, text in enumerate(texts):  # one text at a time: no padding at all
        ids = tokenizer(text, return_tensors="pt")
        expected = model(**ids).last_hidden_state[0].mean(dim=0).numpy()
        np.testing.assert_allclose(batched[row], expected, atol=1e-5)


def test_mauve_is_1_for_the_same_features_and_lower_for_distant_ones():
    pytest.importorskip("mauve")
    from textebm.eval.mauve_score import mauve_score

    rng = np.random.default_rng(0)
    references = rng.normal(size=(60, 8)).astype(np.float32)
    same = mauve_score(references, references.copy())
    assert same["mauve"] == pytest.approx(1.0)
    shifted = mauve_score(references, references + 3.0)
    assert shifted["mauve"] < 0.5 and shifted["mauve_buckets"] == 6


def test_missing_package_is_a_one_line_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mauve", None)  # `import mauve` now raises ImportError
    with pytest.raises(UsageError, match=r"textebm\[mauve\]") as error:
        import_mauve()
    assert str(error.value) == MISSING


def test_a_hub_id_is_refused_as_features_model():
    with pytest.raises(UsageError, match="not a local model folder"):
        load_encoder("sentence-transformers/all-MiniLM-L6-v2")
