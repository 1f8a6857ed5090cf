"""After a plain `import textebm`, transformers' Auto classes know textebm's model types.

The finder's timing is tested on a fake package shaped like transformers (fast, in process); the
real registration in fresh interpreters (slow: each imports torch and transformers anew).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch
from transformers import AutoModel

from textebm.auto_registration import RegisterAfterImport
from textebm.models.cloze import ClozeConfig, ClozeModel
from textebm.models.tiny import build_tiny_cmlm, build_tiny_electric

# A package shaped like transformers where it matters: its Auto module ("auto") is first imported
# from the middle of "bert" (through "layers"), before "bert" defines BertModel; and a plugin that
# registers itself in the Auto module and needs BertModel to do so, as textebm's models do.
FAKE_PACKAGE = {
    "fakehf/__init__.py": "",
    "fakehf/auto.py": "registered = {}\n",
    "fakehf/layers.py": "import fakehf.auto\n",
    "fakehf/bert.py": "import fakehf.layers\n\nclass BertModel:\n    pass\n",
    "fakeplugin.py": (
        "from fakehf.bert import BertModel\nimport fakehf.auto\n\n"
        "fakehf.auto.registered['plugin'] = BertModel\n"
    ),
    "brokenplugin.py": "raise RuntimeError('cannot register')\n",
    # a module of the package that fails once the Auto module is loaded (a missing dependency)
    "fakehf/failing.py": "import fakehf.auto\n\nraise ImportError('needs something missing')\n",
}


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    for name, text in FAKE_PACKAGE.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m.split(".")[0] in ("fakehf", "fakeplugin")]:
        del sys.modules[name]


def with_finder(plugin: str) -> RegisterAfterImport:
    finder = RegisterAfterImport("fakehf", "fakehf.auto", (plugin,))
    sys.meta_path.insert(0, finder)
    return finder


def test_the_plugin_registers_once_the_package_is_quiet_not_midway(fake_package):
    finder = with_finder("fakeplugin")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a failed registration is a warning: make it fail
            import fakehf.bert
        import fakehf.auto

        assert fakehf.auto.registered == {"plugin": fakehf.bert.BertModel}
        assert finder.done and finder not in sys.meta_path  # it removed itself
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


def test_a_failing_import_of_the_package_does_not_leave_the_registration_pending(fake_package):
    finder = with_finder("fakeplugin")
    try:
        with pytest.raises(ImportError, match="needs something missing"):
            import fakehf.failing  # noqa: F401
        # registered already, not at the next import of the package (which may never come)
        assert finder.done and finder not in sys.meta_path
        registered = sys.modules["fakehf.auto"].registered
        assert registered == {"plugin": sys.modules["fakehf.bert"].BertModel}
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


def test_a_package_loaded_before_the_finder_is_registered_at_once(fake_package):
    import fakehf.auto
    import fakehf.bert

    finder = with_finder("fakeplugin")
    assert fakehf.auto.registered == {}
    finder.register_if_ready()
    assert fakehf.auto.registered == {"plugin": fakehf.bert.BertModel}
    assert finder not in sys.meta_path


def test_a_failed_registration_warns_and_leaves_the_package_importable(fake_package):
    finder = with_finder("brokenplugin")
    try:
        with pytest.warns(RuntimeWarning, match="brokenplugin: RuntimeError: cannot register"):
            import fakehf.bert
        assert fakehf.bert.BertModel
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


# Prints, for each saved folder, the class AutoModel loads and the sum of its weights; and checks
# that the model types are known to AutoConfig by name.
CHECK = """
import json, sys
from transformers import AutoConfig, AutoModel
for model_type in ("electric", "textebm-cloze", "textebm-cmlm"):
    assert AutoConfig.for_model(model_type).model_type == model_type
loaded = {}
for folder in sys.argv[1:]:
    model = AutoModel.from_pretrained(folder)
    weights = sum(p.double().sum().item() for p in model.parameters())
    loaded[folder] = [type(model).__name__, weights]
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, tuple[str, float]]:
    """Folders of a tiny Electric, cloze and CMLM model -> (class name, sum of the weights)."""
    root = tmp_path_factory.mktemp("auto")
    torch.manual_seed(0)
    cloze = ClozeModel(ClozeConfig(vocab_size=20, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    cloze.save_pretrained(root / "cloze")
    folders = [build_tiny_electric(root / "electric"), root / "cloze"]
    folders.append(build_tiny_cmlm(root / "cmlm"))
    expected = {}
    for folder in folders:
        model = AutoModel.from_pretrained(folder)
        weights = sum(p.double().sum().item() for p in model.parameters())
        expected[str(folder)] = (type(model).__name__, weights)
    assert [name for name, _ in expected.values()] == ["ElectricModel", "ClozeModel", "CMLMModel"]
    return expected


def run_fresh(first_lines: str, saved: dict[str, tuple[str, float]]) -> dict:
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", first_lines + CHECK, *saved],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_loaded_as_saved(loaded: dict, saved: dict[str, tuple[str, float]]) -> None:
    for folder, (name, weights) in saved.items():
        assert loaded[folder][0] == name
        assert loaded[folder][1] == pytest.approx(weights, rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(
    "first",
    [
        # The plain case; `import textebm` itself stays light (every CLI call pays it).
        "import sys, textebm\n"
        "assert not {'torch', 'transformers'} & set(sys.modules), 'import textebm is heavy'\n",
        # transformers first: registered when textebm is imported.
        "import transformers.models.auto.modeling_auto\nimport textebm\n",
        # BertModel first: transformers imports its Auto modules while modeling_bert is half
        # executed; registering then would ask for a half-made BertModel.
        "import textebm\nfrom transformers import BertModel\n",
        # A textebm model module first: it is the one importing transformers.
        "import textebm.models.cloze\n",
    ],
    ids=["textebm-first", "transformers-first", "bert-model-first", "cloze-module-first"],
)
def test_after_import_textebm_the_auto_classes_load_every_textebm_model(saved, first):
    assert_loaded_as_saved(run_fresh(first, saved), saved)
