"""Shared fixtures: tiny masked and causal LMs built offline and saved, loaded through the hub code
path."""

from __future__ import annotations

import pytest

from textebm.models.loading import load_causal_lm, load_cmlm, load_electric, load_masked_lm
from textebm.models.tiny import build_tiny_clm, build_tiny_cmlm, build_tiny_electric, build_tiny_mlm


@pytest.fixture(autouse=True)
def _small_session_probe(monkeypatch):
    """Every training session measures the pinned matrix product first (seconds on 2 cores);
    the tests train dozens of tiny runs, so they measure a tiny product instead."""
    probe = dict(m=64, k=64, n=64, repeats=1, warmup=0)
    monkeypatch.setattr("textebm.hardware.SESSION_PROBE", probe)


@pytest.fixture
def _one_thread():
    """One torch thread: the tiny models' matrices (hidden size 32) gain nothing from more, and on
    a busy machine extra threads make them several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def _quiet_and_one_thread(monkeypatch, _one_thread):
    """No progress bars (CI set), and `_one_thread`. Use with
    `pytestmark = pytest.mark.usefixtures("_quiet_and_one_thread")`."""
    monkeypatch.setenv("CI", "1")


@pytest.fixture(scope="session")
def wordlevel_dir(tmp_path_factory):
    """A tiny word-level BERT; init_scale 5 so its conditionals are far from uniform."""
    return build_tiny_mlm(tmp_path_factory.mktemp("wordlevel"), "wordlevel", init_scale=5.0)


@pytest.fixture(scope="session")
def wordpiece_dir(tmp_path_factory):
    return build_tiny_mlm(tmp_path_factory.mktemp("wordpiece"), "wordpiece", init_scale=5.0)


@pytest.fixture(scope="session")
def wordlevel(wordlevel_dir):
    return load_masked_lm(str(wordlevel_dir), device="cpu")


@pytest.fixture(scope="session")
def wordpiece(wordpiece_dir):
    return load_masked_lm(str(wordpiece_dir), device="cpu")


@pytest.fixture(scope="session")
def clm_dir(tmp_path_factory):
    """A tiny word-level GPT-2; init_scale 5 so its next-token distributions are far from flat."""
    return build_tiny_clm(tmp_path_factory.mktemp("clm"), init_scale=5.0)


@pytest.fixture(scope="session")
def clm(clm_dir):
    return load_causal_lm(str(clm_dir), device="cpu")


@pytest.fixture(scope="session")
def electric_dir(tmp_path_factory):
    """A tiny word-level Electric model; init_scale 5 so its energies vary with the token."""
    return build_tiny_electric(tmp_path_factory.mktemp("electric"), init_scale=5.0)


@pytest.fixture(scope="session")
def electric(electric_dir):
    return load_electric(str(electric_dir), device="cpu")


@pytest.fixture(scope="session")
def cmlm_dir(tmp_path_factory):
    """A tiny word-level conditional masked LM; init_scale 5 so that its conditionals depend on
    the source and the target context."""
    return build_tiny_cmlm(tmp_path_factory.mktemp("cmlm"), init_scale=5.0)


@pytest.fixture(scope="session")
def cmlm(cmlm_dir):
    return load_cmlm(str(cmlm_dir), device="cpu")


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """Sentences of several lengths within the tiny vocabulary."""
    return list(SENTENCES)


SENTENCES = [
    "the cat sat on the mat .",
    "dogs",
    "she reads a book today in the park with her children and the old teacher",
    "the quick bird sang .",
    "we saw them yesterday near the green river",
]


@pytest.fixture(scope="session")
def slow_wordlevel(wordlevel):
    """The word-level model with a slow (pure Python) tokenizer over the same vocabulary: it
    tokenises as the fast one does but, like every slow tokenizer, reports no word boundaries."""
    from transformers import PreTrainedTokenizer

    class SlowWordLevel(PreTrainedTokenizer):
        def __init__(self, vocab: dict[str, int], **kwargs) -> None:
            self.vocab = dict(vocab)
            self.words = {i: token for token, i in self.vocab.items()}
            names = ("unk", "cls", "sep", "pad", "mask")
            specials = {f"{name}_token": f"[{name.upper()}]" for name in names}
            super().__init__(**specials, special_tokens_pattern="cls_sep", **kwargs)

        def get_vocab(self) -> dict[str, int]:
            return dict(self.vocab)

        @property
        def vocab_size(self) -> int:
            return len(self.vocab)

        def _tokenize(self, text: str, **kwargs) -> list[str]:
            return text.lower().split()

        def _convert_token_to_id(self, token: str) -> int:
            return self.vocab.get(token, self.vocab["[UNK]"])

        def _convert_id_to_token(self, index: int) -> str:
            return self.words[index]

    model, fast = wordlevel
    return model, SlowWordLevel(fast.get_vocab())
